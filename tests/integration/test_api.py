"""The JSON API under /api: each endpoint's shape, the screen PIN and revoked codes, tenant
scoping, JSON errors, the JSON stream (board, then runners with the HTML stream's ids), CSRF on
writes, inert text and the OpenAPI schema."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.db import displays as displays_db
from app.db import messages as messages_db
from app.db import templates as templates_db
from app.db.pool import tenant_connection
from app.domain.catalog import Display, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.messages import MessageText, Schedule
from app.domain.templates import starter_layout
from app.pubsub import MemoryBus
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from tests.conftest import free_port
from tests.integration.tenancy import PASSWORD, seed_tenant, serving
from tests.integration.test_display_stream import (
    T0,
    WAIT_S,
    Race,
    Screen,
    SseEvent,
    _publish,
    _race,
    _store,
)

pytestmark = pytest.mark.timeout(90)

INERT = "<script>alert(1)</script>"
TEMPLATE_BRACES = "{{7*7}}"
EMAIL = "owner@harbor-timing.test"
RUNNER_KEYS = {
    "participant_id", "name", "first_name", "last_name", "bib", "known", "vip", "gender",
    "age_group", "sub_event", "city", "team", "location", "read_at", "time", "time_basis",
    "gun_time", "chip_time", "pace", "places", "late", "repeat",
}  # fmt: skip
ERROR_KEYS = {"status", "error", "detail"}
# Every API route, as the OpenAPI schema must list it.
API_PATHS = {
    "/api/displays/{code}",
    "/api/displays/{code}/current",
    "/api/displays/{code}/messages",
    "/api/displays/{code}/stream",
    "/api/templates",
    "/api/templates/{template_id}",
    "/api/templates/{template_id}/versions/{version}",
    "/api/events/{event_id}/displays",
    "/api/events/{event_id}/messages",
}


@dataclass
class Served:
    url: str
    bus: MemoryBus
    race: Race
    template_id: int
    rival_event_id: int
    rival_display: Display
    rival_template_id: int

    @property
    def code(self) -> str:
        return self.race.display.code


@pytest.fixture
async def served(pool: AsyncConnectionPool, db_url: str) -> AsyncIterator[Served]:
    """The app on uvicorn (streams need a real server), a race with a signed-up owner, a
    runner whose name is markup, a two-version template, and a rival tenant."""
    race = await _race(pool)
    async with pool.connection() as conn:
        await catalog.create_user(
            conn,
            tenant_id=race.tenant_id,
            email=EMAIL,
            password_hash=hash_password(PASSWORD),
            role="owner",
        )
        await catalog.upsert_participants(
            conn,
            race.tenant_id,
            race.event_id,
            [ParticipantIn("66", "6666", INERT, TEMPLATE_BRACES, "F", 30)],
        )
    async with tenant_connection(pool, race.tenant_id) as conn:
        layout = starter_layout().to_json()
        template_id = await templates_db.create_template(conn, race.tenant_id, INERT, layout)
        await templates_db.add_version(conn, race.tenant_id, template_id, layout, None, "first")
        wide = {**layout, "background": "#112233"}
        await templates_db.set_draft(conn, race.tenant_id, template_id, wide)
        await templates_db.add_version(conn, race.tenant_id, template_id, wide, None, "second")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon")
    async with tenant_connection(pool, rival.tenant_id) as conn:
        rival_display = await catalog.create_display(
            conn,
            tenant_id=rival.tenant_id,
            event_id=rival.event.id,
            code=new_display_code(),
            name="Rival screen",
        )
        layout = starter_layout().to_json()
        rival_template = await templates_db.create_template(
            conn, rival.tenant_id, "Rival template", layout
        )
        await templates_db.add_version(conn, rival.tenant_id, rival_template, layout, None, "")
    bus = MemoryBus()
    port = free_port()
    settings = Settings(database_url=db_url, secret_key="a" * 48, http_port=port)
    app = create_app(settings, pool=pool, bus=bus)
    async with serving(app, port) as url:
        yield Served(url, bus, race, template_id, rival.event.id, rival_display, rival_template)


def _json(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    return r.json()


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    body: dict[str, Any] = _json(r, status)
    assert set(body) == ERROR_KEYS and body["status"] == status, body
    return body


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never {what}"
        await asyncio.sleep(0.05)


async def _sign_in(http: httpx.AsyncClient) -> str:
    """Signs in with a form, as the pages do; returns the CSRF token a script sends back (the
    rd_csrf cookie's value)."""
    page = await http.get("/login")
    token = page.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    r = await http.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(http.cookies["rd_csrf"])


async def test_a_display_by_its_code_answers_json(
    served: Served, pool: AsyncConnectionPool
) -> None:
    code, race = served.code, served.race
    async with pool.connection() as conn:
        # A name that is markup, as a timer might type it.
        await conn.execute("UPDATE displays SET name = %s WHERE id = %s", (INERT, race.display.id))
    async with tenant_connection(pool, race.tenant_id) as conn:
        await messages_db.insert_message(
            conn,
            tenant_id=race.tenant_id,
            event_id=race.event_id,
            display_id=None,
            text=MessageText(f"{INERT} {TEMPLATE_BRACES}", "ticker", 8),
            schedule=Schedule(),
            created_by=None,
        )
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_S) as http:
        info = _json(await http.get(f"/api/displays/{code}"))
        assert info == {
            "code": code,
            "name": INERT,
            "event": {"name": "Harbor 10K", "date": None, "time_zone": "Europe/Oslo"},
            "locations": ["FINISH"],
            "rules": {
                "dwell_s": race.display.display_duration / 1000,
                "transition": race.display.transition,
                "duplicate_window_s": race.display.duplicate_window,
                "reorder_window_s": race.display.reorder_window,
                "burst": {
                    "max_per_second": race.display.max_per_second,
                    "group_runners": race.display.group_runners,
                    "vips_first": race.display.vips_first,
                    "show_repeats": race.display.show_repeats,
                },
                "unknown_chips": "chip" if race.display.show_unknown else "hide",
            },
            "template": {"template_id": None, "version": None},
            "pin_required": False,
        }
        assert "tenant" not in (await http.get(f"/api/displays/{code}")).text

        empty = _json(await http.get(f"/api/displays/{code}/current"))
        assert set(empty) == {"display", "event_id", "featured", "recent", "also", "gun_at"}
        assert empty["featured"] == [] and empty["event_id"].endswith(".0")

        stored = await _store(
            pool,
            race,
            [("FINISH", "1187", T0), ("FINISH", "6666", T0 + timedelta(seconds=30))],
        )
        await _publish(served.bus, race, stored)

        async def both_shown() -> bool:
            body = _json(await http.get(f"/api/displays/{code}/current"))
            return len(body["recent"]) == 2

        await _until(both_shown, "saw both runners")
        r = await http.get(f"/api/displays/{code}/current")
        assert r.headers["cache-control"] == "no-cache"
        current = _json(r)
        assert current["event_id"].endswith(".2")
        # The same cursor as the display's own JSON (and so as its HTML stream's ids).
        legacy = (await http.get(f"/d/{code}/current")).json()
        assert legacy["event_id"] == current["event_id"]
        (featured,) = current["featured"]
        assert set(featured) == RUNNER_KEYS
        # Markup in a name is text in JSON: the client decides how to show it.
        assert featured["name"] == f"{INERT} {TEMPLATE_BRACES}"
        assert featured["first_name"] == INERT and featured["bib"] == "66"
        assert featured["places"] == {"overall": None, "gender": None, "age_group": None}
        assert [x["name"] for x in current["recent"]] == ["Ann Lee", f"{INERT} {TEMPLATE_BRACES}"]
        assert current["recent"][0]["read_at"].startswith("2026-05-17T06:21:44.9")

        messages = _json(await http.get(f"/api/displays/{code}/messages"))
        assert set(messages) == {"display", "messages", "version", "next_change"}
        (message,) = messages["messages"]
        assert set(message) == {"id", "body", "style", "seconds"}
        assert message["body"] == f"{INERT} {TEMPLATE_BRACES}" and message["style"] == "ticker"


async def test_a_pin_locks_the_api_and_a_revoked_code_is_gone(
    served: Served, pool: AsyncConnectionPool
) -> None:
    code, race = served.code, served.race
    routes = [f"/api/displays/{code}{tail}" for tail in ("", "/current", "/messages", "/stream")]
    async with tenant_connection(pool, race.tenant_id) as conn:
        await displays_db.set_pin_hash(
            conn, race.tenant_id, race.event_id, race.display.id, hash_password("2468")
        )
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_S) as http:

        async def locked() -> bool:
            return (await http.get(routes[0])).status_code == 403

        await _until(locked, "locked")
        for route in routes:
            body = _error(await http.get(route), 403)
            assert "locked with a PIN" in body["detail"]
        # The screen's cookie (from the display's PIN form) opens the API too.
        entered = await http.post(f"/d/{code}/pin", data={"pin": "2468"})
        assert entered.status_code == 303
        cookie = entered.headers["set-cookie"].split(";", 1)[0]
        with_cookie = {"cookie": cookie}
        info = _json(await http.get(routes[0], headers=with_cookie))
        assert info["pin_required"] is True
        assert "2468" not in json.dumps(info) and "argon2" not in json.dumps(info)
        _json(await http.get(routes[1], headers=with_cookie))

        async with tenant_connection(pool, race.tenant_id) as conn:
            await displays_db.revoke(conn, race.tenant_id, race.event_id, race.display.id)

        async def gone() -> bool:
            return (await http.get(routes[1], headers=with_cookie)).status_code == 404

        await _until(gone, "revoked")
        for route in routes:
            body = _error(await http.get(route, headers=with_cookie), 404)
            assert body["error"] == "Not found"
        _error(await http.get("/api/displays/aaaaaaaa/current"), 404)


async def _next_of(screen: Screen) -> tuple[SseEvent, Any]:
    event = await screen.next()
    return event, json.loads(event.data)


@contextlib.asynccontextmanager
async def _stream(
    served: Served, headers: dict[str, str] | None = None, query: str = ""
) -> AsyncIterator[Screen]:
    url = f"/api/displays/{served.code}/stream{query}"
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=WAIT_S) as http,
        http.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        screen = Screen(response)
        await asyncio.wait_for(screen.opened.wait(), WAIT_S)
        try:
            yield screen
        finally:
            await screen.stop()


async def test_the_stream_sends_a_board_then_each_runner_as_json(
    served: Served, pool: AsyncConnectionPool
) -> None:
    race = served.race
    async with _stream(served) as screen:
        board, body = await _next_of(screen)
        assert board.event == "board" and board.id.endswith(".0")
        assert body["event_id"] == board.id and body["featured"] == [] and body["recent"] == []
        await _publish(served.bus, race, await _store(pool, race, [("FINISH", "1187", T0)]))
        ann, runner = await _next_of(screen)
        assert ann.event == "runner"
        # Numbered like the HTML stream: the display's epoch, then its event number.
        assert ann.id == f"{board.id.split('.')[0]}.1"
        assert set(runner) == {"id", "runner", "group", "position", "provisional"}
        assert runner["id"] == ann.id and runner["provisional"] is False
        assert runner["runner"]["name"] == "Ann Lee" and runner["runner"]["bib"] == "42"
        assert set(runner["runner"]) == RUNNER_KEYS
        assert [r["name"] for r in runner["group"]] == ["Ann Lee"]
        assert runner["position"] == 0
        await _publish(
            served.bus,
            race,
            await _store(pool, race, [("FINISH", "6666", T0 + timedelta(seconds=40))]),
        )
        second, marked = await _next_of(screen)
        assert second.id.endswith(".2")
        assert marked["runner"]["name"] == f"{INERT} {TEMPLATE_BRACES}"
        # The display page's own stream numbers the same events alike.
        current = await httpx.AsyncClient(base_url=served.url).get(f"/d/{served.code}/current")
        assert current.json()["event_id"] == second.id

    # Resumed by Last-Event-ID: only what came after, no board.
    await _publish(
        served.bus,
        race,
        await _store(pool, race, [("FINISH", "2305", T0 + timedelta(minutes=3))]),
    )
    async with _stream(served, {"Last-Event-ID": ann.id}) as again:
        first, body = await _next_of(again)
        assert (first.event, first.id) == ("runner", second.id)
        third, body = await _next_of(again)
        assert third.id.endswith(".3") and body["runner"]["name"] == "Omar Khan"
    # ?after= (an event_id from /current) resumes alike; Last-Event-ID wins over it.
    async with _stream(served, query=f"?after={second.id}") as polled:
        assert (await polled.next()).id == third.id
    async with _stream(served, {"Last-Event-ID": third.id}, f"?after={ann.id}") as latest:
        await _publish(
            served.bus,
            race,
            await _store(pool, race, [("FINISH", "9999", T0 + timedelta(minutes=4))]),
        )
        unknown, body = await _next_of(latest)
        assert unknown.id.endswith(".4") and body["runner"]["name"] == "Chip 9999"
        assert body["runner"]["known"] is False and body["runner"]["bib"] == ""
        assert body["runner"]["participant_id"] is None


async def test_tenant_routes_answer_json_and_foreign_ids_404(served: Served) -> None:
    race = served.race
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_S) as http:
        # Not signed in: 401 as JSON, not the login page.
        body = _error(await http.get("/api/templates"), 401)
        assert "Sign in" in body["detail"]
        token = await _sign_in(http)

        listed = _json(await http.get("/api/templates"))
        assert listed == [
            {
                "id": served.template_id,
                "name": INERT,
                "latest_version": 2,
                "saved_at": listed[0]["saved_at"],
                "displays": 0,
            }
        ]
        detail = _json(await http.get(f"/api/templates/{served.template_id}"))
        assert set(detail) == {
            "id", "name", "latest_version", "layout", "unsaved_draft", "versions"
        }  # fmt: skip
        assert detail["name"] == INERT and detail["latest_version"] == 2
        assert detail["layout"]["background"] == "#112233"
        assert detail["unsaved_draft"] is False
        assert [(v["version"], v["note"]) for v in detail["versions"]] == [
            (2, "second"),
            (1, "first"),
        ]
        assert set(detail["layout"]) == {
            "width", "height", "background", "background_image", "elements"
        }  # fmt: skip
        first = _json(await http.get(f"/api/templates/{served.template_id}/versions/1"))
        assert first["version"] == 1 and first["note"] == "first"
        # Exactly what was saved.
        assert first["layout"] == starter_layout().to_json()
        _error(await http.get(f"/api/templates/{served.template_id}/versions/9"), 404)
        _error(await http.get(f"/api/templates/{served.rival_template_id}"), 404)
        _error(await http.get(f"/api/templates/{served.rival_template_id}/versions/1"), 404)

        (display,) = _json(await http.get(f"/api/events/{race.event_id}/displays"))
        assert display["id"] == race.display.id and display["code"] == served.code
        assert display["event_id"] == race.event_id and display["locations"] == ["FINISH"]
        assert set(display) == {
            "id", "event_id", "code", "name", "locations", "rules", "template", "pin_required"
        }  # fmt: skip
        rival = _error(await http.get(f"/api/events/{served.rival_event_id}/displays"), 404)
        assert "Rival" not in json.dumps(rival)
        _error(await http.get(f"/api/events/{served.rival_event_id}/messages"), 404)

        messages = f"/api/events/{race.event_id}/messages"
        assert _json(await http.get(messages)) == {
            "event_id": race.event_id,
            "time_zone": "Europe/Oslo",
            "messages": [],
        }
        new = {"body": f"{INERT} {TEMPLATE_BRACES}", "display_id": race.display.id}
        # A JSON post without the CSRF header is refused, as JSON.
        refused = _error(await http.post(messages, json=new), 403)
        assert "X-CSRFToken" in refused["detail"]
        csrf = {"x-csrftoken": token}
        added = _json(await http.post(messages, json=new, headers=csrf), 201)
        assert added["body"] == f"{INERT} {TEMPLATE_BRACES}"
        assert added["display_id"] == race.display.id and added["state"] == "showing"
        scheduled = _json(
            await http.post(
                messages,
                json={"body": "Awards at noon", "style": "fullscreen", "seconds": 12,
                      "show_from": "2099-05-17T11:30"},
                headers=csrf,
            ),
            201,
        )  # fmt: skip
        # Typed in the event's zone (Oslo, UTC+2 in May).
        assert scheduled["show_from"].startswith("2099-05-17T09:30:00")
        assert scheduled["display_id"] is None and scheduled["seconds"] == 12
        assert scheduled["state"] == "scheduled"
        queues = _json(await http.get(messages))["messages"]
        assert [m["id"] for m in queues] == [scheduled["id"], added["id"]]
        assert set(queues[0]) == {
            "id", "display_id", "body", "style", "seconds", "position", "show_from",
            "show_until", "state", "created_at", "updated_at",
        }  # fmt: skip
        # A screen shows what is on now: not the message scheduled for later.
        on_screen = _json(await http.get(f"/api/displays/{served.code}/messages"))
        assert [m["id"] for m in on_screen["messages"]] == [added["id"]]
        assert on_screen["next_change"].startswith("2099-05-17T09:30:00")

        bad = _error(await http.post(messages, json={"body": "  "}, headers=csrf), 400)
        assert bad["detail"] == "Write the message."
        _error(await http.post(messages, json={"nobody": 1}, headers=csrf), 400)
        _error(
            await http.post(
                f"/api/events/{served.rival_event_id}/messages", json=new, headers=csrf
            ),
            404,
        )
        other_display = {"body": "Sneaky", "display_id": served.rival_display.id}
        _error(await http.post(messages, json=other_display, headers=csrf), 404)
        _error(await http.get("/api/nothing-here"), 404)


async def test_the_openapi_schema_lists_only_the_api(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=WAIT_S) as http:
        schema = (await http.get("/api/schema/openapi.json")).json()
        assert schema["info"]["title"] == "RaceDisplay API"
        assert set(schema["paths"]) == API_PATHS
        assert all(path.startswith("/api/") for path in schema["paths"])
        assert schema["paths"]["/api/events/{event_id}/messages"].keys() >= {"get", "post"}
        components = schema["components"]["schemas"]
        runner = components["Runner"]["properties"]
        assert set(runner) == RUNNER_KEYS
        assert {"Board", "PublicDisplay", "DisplaySettings", "NewMessage"} <= set(components)
        assert "pin_hash" not in json.dumps(schema)
        assert schema["components"]["securitySchemes"]["session"]["in"] == "cookie"
        # The same document at the schema's root; other paths there are JSON 404s.
        assert (await http.get("/api/schema")).json()["info"]["title"] == "RaceDisplay API"
        _error(await http.get("/api/schema/swagger"), 404)
