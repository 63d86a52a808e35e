"""Message queues over HTTP: add, edit, reorder, schedule and remove with CSRF; what a display's
public fragment shows; inert text; another tenant's ids; the bus notification."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import Response
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.db import messages as messages_db
from app.db.pool import tenant_connection
from app.domain.catalog import Display
from app.domain.codes import new_display_code
from app.domain.messages import Change, MessageText, Schedule, channel
from app.pubsub import MemoryBus
from app.pubsub.bus import Subscription
from tests.integration.tenancy import Client, TenantSeed, app_client, login, seed_tenant

pytestmark = pytest.mark.timeout(60)

ZONE = "Europe/Oslo"
INERT = "<script>alert(1)</script> {{7*7}}"


@dataclass(frozen=True)
class Rig:
    mine: TenantSeed
    rival: TenantSeed
    finish: Display
    announcer: Display
    rival_display: Display
    rival_message_id: int

    @property
    def base(self) -> str:
        return f"/events/{self.mine.event.id}/messages"


async def _display(pool: AsyncConnectionPool, seed: TenantSeed, name: str) -> Display:
    async with pool.connection() as conn:
        return await catalog.create_display(
            conn,
            tenant_id=seed.tenant_id,
            event_id=seed.event.id,
            code=new_display_code(),
            name=name,
        )


@pytest.fixture
async def rig(pool: AsyncConnectionPool) -> Rig:
    mine = await seed_tenant(pool, "harbor-timing", "Harbor 10K")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon")
    async with pool.connection() as conn:
        await conn.execute("UPDATE events SET time_zone = %s WHERE id = %s", (ZONE, mine.event.id))
    finish = await _display(pool, mine, "Finish line")
    announcer = await _display(pool, mine, "Announcer tablet")
    rival_display = await _display(pool, rival, "Rival screen")
    async with tenant_connection(pool, rival.tenant_id) as conn:
        secret = await messages_db.insert_message(
            conn,
            tenant_id=rival.tenant_id,
            event_id=rival.event.id,
            display_id=rival_display.id,
            text=MessageText("Rival secret message", "ticker", 8),
            schedule=Schedule(),
            created_by=None,
        )
    return Rig(mine, rival, finish, announcer, rival_display, secret.id)


@pytest.fixture
async def client(db_url: str, rig: Rig) -> AsyncIterator[Client]:
    async with app_client(db_url) as c:
        yield c


async def _rows(pool: AsyncConnectionPool, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        return await (await conn.execute(sql, params)).fetchall()


async def _id(pool: AsyncConnectionPool, body: str) -> int:
    rows = await _rows(pool, "SELECT id FROM display_messages WHERE body = %s", body)
    assert len(rows) == 1, rows
    return int(rows[0][0])


async def _queue(pool: AsyncConnectionPool, event_id: int, display_id: int | None) -> list[str]:
    rows = await _rows(
        pool,
        "SELECT body FROM display_messages WHERE event_id = %s"
        " AND display_id IS NOT DISTINCT FROM %s::bigint ORDER BY position, id",
        event_id,
        display_id,
    )
    return [str(r[0]) for r in rows]


async def _post(client: Client, path: str, token: str, **data: Any) -> Response:
    """An htmx form post, as the page sends it."""
    return await client.post(
        path, data={**data, "_csrf_token": token}, headers={"HX-Request": "true"}
    )


def _local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


_ITEM = re.compile(
    r'<(span|li) class="message-(ticker-item|fullscreen)" data-message-id="\d+"[^>]*>(.*?)</\1>',
    re.S,
)


def _shown(fragment: str) -> dict[str, list[str]]:
    """The ticker's and the full-screen list's texts, in order, as the browser shows them."""
    out: dict[str, list[str]] = {"ticker-item": [], "fullscreen": []}
    for _tag, kind, text in _ITEM.findall(fragment):
        out[kind].append(html.unescape(text.strip()))
    return out


async def _screen(client: Client, display: Display) -> dict[str, list[str]]:
    r = await client.get(f"/d/{display.code}/messages")
    assert r.status_code == 200, r.text
    return _shown(r.text)


async def test_add_edit_reorder_schedule_and_remove_over_http(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    token = await login(client, rig.mine.email)
    event_id = rig.mine.event.id
    page = await client.get(rig.base)
    assert page.status_code == 200
    for text in ("Messages", "Finish line", "Announcer tablet", ZONE, "No messages in this queue"):
        assert text in page.text
    assert "Rival" not in page.text
    assert f'href="{rig.base}"' in (await client.get(f"/events/{event_id}")).text

    # Add: the event's queue and each display's own.
    added = await _post(client, rig.base, token, queue="event", body="Welcome to Harbor 10K")
    assert added.status_code == 200, added.text
    assert added.headers["HX-Retarget"] == "#messages-board"
    assert 'id="messages-board"' in added.text and "Welcome to Harbor 10K" in added.text
    finish_only = "Finish line: keep moving"
    r = await _post(client, rig.base, token, queue=str(rig.finish.id), body=finish_only,
                    style="fullscreen", seconds="5")  # fmt: skip
    assert r.status_code == 200, r.text
    r = await _post(client, rig.base, token, queue=str(rig.announcer.id), body="Announcer only")
    assert r.status_code == 200
    assert await _screen(client, rig.finish) == {
        "ticker-item": ["Welcome to Harbor 10K"],
        "fullscreen": [finish_only],
    }
    assert await _screen(client, rig.announcer) == {
        "ticker-item": ["Welcome to Harbor 10K", "Announcer only"],
        "fullscreen": [],
    }
    fragment = (await client.get(f"/d/{rig.finish.code}/messages")).text
    assert 'data-seconds="5"' in fragment

    # Errors come back to the form that sent them, as a fragment.
    for fields, reason in [
        ({"body": "   "}, "Write the message"),
        ({"body": "x" * 501}, "500 characters"),
        ({"body": "Hi", "style": "fullscreen", "seconds": "600"}, "3 to 120 seconds"),
        ({"body": "Hi", "show_from": "2026-03-29T02:30"}, "does not exist"),
    ]:
        bad = await _post(client, rig.base, token, queue="event", **fields)
        assert bad.status_code == 400 and reason in bad.text, bad.text
        assert 'class="error-message"' in bad.text and "<html" not in bad.text

    # Edit.
    welcome = await _id(pool, "Welcome to Harbor 10K")
    r = await _post(client, f"{rig.base}/{welcome}", token, body="Welcome home, runners",
                    style="ticker", seconds="8")  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await _screen(client, rig.finish))["ticker-item"] == ["Welcome home, runners"]

    # Reorder: move up and down, by typed places, by a list of ids.
    for body in ("Second", "Third"):
        assert (await _post(client, rig.base, token, queue="event", body=body)).status_code == 200
    second, third = await _id(pool, "Second"), await _id(pool, "Third")
    assert await _queue(pool, event_id, None) == ["Welcome home, runners", "Second", "Third"]
    r = await _post(client, f"{rig.base}/{third}/move", token, direction="up")
    assert r.status_code == 200, r.text
    assert await _queue(pool, event_id, None) == ["Welcome home, runners", "Third", "Second"]
    r = await _post(client, f"{rig.base}/{welcome}/move", token, direction="up")
    assert r.status_code == 200  # already first: nothing moves
    r = await _post(client, f"{rig.base}/{welcome}/move", token, direction="down")
    assert await _queue(pool, event_id, None) == ["Third", "Welcome home, runners", "Second"]
    places = {f"place_{second}": "1", f"place_{welcome}": "2", f"place_{third}": "3"}
    r = await _post(client, f"{rig.base}/order", token, queue="event", **places)
    assert r.status_code == 200, r.text
    assert await _queue(pool, event_id, None) == ["Second", "Welcome home, runners", "Third"]
    r = await _post(client, f"{rig.base}/order", token, queue="event",
                    order=f"{third},{second},{welcome}")  # fmt: skip
    assert r.status_code == 200, r.text
    assert await _queue(pool, event_id, None) == ["Third", "Second", "Welcome home, runners"]
    # The screen follows the queue's order; the display's own queue keeps its own.
    assert (await _screen(client, rig.announcer))["ticker-item"] == [
        "Third", "Announcer only", "Second", "Welcome home, runners"
    ]  # fmt: skip
    bad = await _post(client, f"{rig.base}/order", token, queue="event", order=f"{third}")
    assert bad.status_code == 400 and "every message" in bad.text

    # Schedule, in the event's time zone: later is not shown yet, ended is not shown any more.
    now = datetime.now(UTC)
    later = now + timedelta(hours=2)
    r = await _post(client, f"{rig.base}/{second}/schedule", token, show_from=_local(later),
                    show_until="")  # fmt: skip
    assert r.status_code == 200, r.text
    stored = await _rows(pool, "SELECT show_from FROM display_messages WHERE id = %s", second)
    assert stored[0][0] == later.replace(second=0, microsecond=0)
    assert "Second" not in (await _screen(client, rig.finish))["ticker-item"]
    r = await _post(client, f"{rig.base}/{second}/schedule", token, show_from="", show_until="")
    assert "Second" in (await _screen(client, rig.finish))["ticker-item"]
    r = await _post(client, f"{rig.base}/{second}/schedule", token,
                    show_from=_local(now - timedelta(hours=3)),
                    show_until=_local(now - timedelta(hours=1)))  # fmt: skip
    assert r.status_code == 200
    assert "Second" not in (await _screen(client, rig.finish))["ticker-item"]
    bad = await _post(client, f"{rig.base}/{second}/schedule", token,
                      show_from=_local(later), show_until=_local(now))  # fmt: skip
    assert bad.status_code == 400 and "end after it starts" in bad.text
    # Scheduled when added.
    r = await _post(client, rig.base, token, queue=str(rig.finish.id), body="Awards at noon",
                    show_from=_local(later))  # fmt: skip
    assert r.status_code == 200
    r = await _post(client, rig.base, token, queue="event", body="Yesterday's news",
                    show_until=_local(now - timedelta(minutes=5)))  # fmt: skip
    assert r.status_code == 200
    board = await client.get(rig.base)
    assert "status-message-scheduled" in board.text and "status-message-ended" in board.text
    screen = await _screen(client, rig.finish)
    assert "Awards at noon" not in screen["fullscreen"] + screen["ticker-item"]
    assert "Yesterday's news" not in screen["ticker-item"]

    # Remove.
    r = await _post(client, f"{rig.base}/{third}/delete", token)
    assert r.status_code == 200, r.text
    assert "Third" not in (await _screen(client, rig.finish))["ticker-item"]
    assert await _rows(pool, "SELECT 1 FROM display_messages WHERE id = %s", third) == []

    # Plain forms (no htmx) get a 303 back to the page they came from, filter and all.
    r = await client.post(
        rig.base,
        data={"queue": str(rig.finish.id), "body": "Plain form", "filter": str(rig.finish.id),
              "_csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"{rig.base}?display={rig.finish.id}"
    filtered = await client.get(f"{rig.base}?display={rig.finish.id}")
    assert filtered.status_code == 200
    assert "On Finish line now" in filtered.text and "Plain form" in filtered.text
    assert "Announcer only" not in filtered.text

    actions = {a for (a,) in await _rows(pool, "SELECT action FROM audit_log")}
    assert {"message.add", "message.edit", "message.move", "message.reorder",
            "message.schedule", "message.remove"} <= actions  # fmt: skip


async def test_message_text_is_inert_on_the_screen_and_the_page(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    token = await login(client, rig.mine.email)
    r = await _post(client, rig.base, token, queue="event", body=INERT)
    assert r.status_code == 200
    r = await _post(client, rig.base, token, queue=str(rig.finish.id), body=INERT,
                    style="fullscreen", seconds="10")  # fmt: skip
    assert r.status_code == 200
    fragment = (await client.get(f"/d/{rig.finish.code}/messages")).text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}"
    assert fragment.count(escaped) == 2
    assert "<script" not in fragment and "49" not in re.sub(r'"[^"]*"', "", fragment)
    assert _shown(fragment) == {"ticker-item": [INERT], "fullscreen": [INERT]}
    page = (await client.get(rig.base)).text
    assert "<script>alert" not in page and escaped in page
    assert "{{7*7}}" in page


async def test_the_fragment_answers_304_until_it_changes_and_404_for_revoked_codes(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    token = await login(client, rig.mine.email)
    path = f"/d/{rig.finish.code}/messages"
    empty = await client.get(path)
    assert empty.status_code == 200 and 'id="screen-messages"' in empty.text
    assert _shown(empty.text) == {"ticker-item": [], "fullscreen": []}
    etag = empty.headers["etag"]
    same = await client.get(path, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    await _post(client, rig.base, token, queue="event", body="Water at the tent")
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # Another display's message does not change this screen.
    etag = changed.headers["etag"]
    await _post(client, rig.base, token, queue=str(rig.announcer.id), body="Tablet only")
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304

    assert (await client.get("/d/zzzzzzzz/messages")).status_code == 404
    revoked = await _display(pool, rig.mine, "Old screen")
    async with pool.connection() as conn:
        await conn.execute("UPDATE displays SET revoked_at = now() WHERE id = %s", (revoked.id,))
    gone = await client.get(f"/d/{revoked.code}/messages")
    assert gone.status_code == 404 and "Water at the tent" not in gone.text
    # A display with a screen PIN shows its messages only to screens that entered it.
    locked = await _display(pool, rig.mine, "Locked screen")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE displays SET pin_hash = %s WHERE id = %s",
            ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", locked.id),
        )
    refused = await client.get(f"/d/{locked.code}/messages")
    assert refused.status_code == 403 and "Water at the tent" not in refused.text


async def test_another_tenants_ids_are_404(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    token = await login(client, rig.mine.email)
    rival_base = f"/events/{rig.rival.event.id}/messages"
    secret = rig.rival_message_id
    assert (await client.get(rival_base)).status_code == 404
    page = await client.get(f"{rig.base}?display={rig.rival_display.id}")
    assert page.status_code == 404 and "Rival" not in page.text
    attempts = [
        (rival_base, {"queue": "event", "body": "Planted"}),
        (rig.base, {"queue": str(rig.rival_display.id), "body": "Planted"}),
        (f"{rig.base}/order", {"queue": str(rig.rival_display.id), "order": str(secret)}),
        (f"{rival_base}/order", {"queue": "event", "order": ""}),
        (f"{rig.base}/{secret}", {"body": "Hijacked"}),
        (f"{rival_base}/{secret}", {"body": "Hijacked"}),
        (f"{rig.base}/{secret}/schedule", {"show_until": "2026-01-01T00:00"}),
        (f"{rival_base}/{secret}/schedule", {"show_until": "2026-01-01T00:00"}),
        (f"{rig.base}/{secret}/move", {"direction": "up"}),
        (f"{rival_base}/{secret}/move", {"direction": "up"}),
        (f"{rig.base}/{secret}/delete", {}),
        (f"{rival_base}/{secret}/delete", {}),
    ]
    for path, data in attempts:
        r = await _post(client, path, token, **data)
        assert r.status_code == 404, f"{path} {data}: {r.status_code}"
        assert "Rival secret message" not in r.text
    rows = await _rows(pool, "SELECT body, show_until FROM display_messages")
    assert rows == [("Rival secret message", None)]
    # The rival's screen still shows its message; ours never did.
    assert (await _screen(client, rig.rival_display))["ticker-item"] == ["Rival secret message"]
    assert (await _screen(client, rig.finish))["ticker-item"] == []


async def test_forms_without_the_csrf_token_are_refused(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    await login(client, rig.mine.email)
    r = await client.post(rig.base, data={"queue": "event", "body": "No token"})
    assert r.status_code == 403
    assert await _rows(pool, "SELECT 1 FROM display_messages WHERE body = 'No token'") == []


async def test_an_archived_events_messages_are_read_only(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    token = await login(client, rig.mine.email)
    await _post(client, rig.base, token, queue="event", body="Before the archive")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE events SET archived_at = now() WHERE id = %s", (rig.mine.event.id,)
        )
    r = await _post(client, rig.base, token, queue="event", body="After the archive")
    assert r.status_code == 400 and "archived" in r.text
    page = await client.get(rig.base)
    assert page.status_code == 200 and "Before the archive" in page.text
    assert "Add message" not in page.text
    # Its screens keep showing what it had.
    assert (await _screen(client, rig.finish))["ticker-item"] == ["Before the archive"]


async def _subscribe(
    bus: MemoryBus, name: str
) -> tuple[AbstractAsyncContextManager[Subscription], Subscription]:
    cm = bus.subscribe(name)
    return cm, await cm.__aenter__()


async def _next(sub: Subscription) -> tuple[str, bytes]:
    async with asyncio.timeout(5):
        async for item in sub:
            return item
    raise AssertionError("the subscription ended")


async def test_every_change_is_announced_on_the_events_channel(
    client: Client, rig: Rig, pool: AsyncConnectionPool
) -> None:
    """Open screens learn of a change from the bus. The app runs in the test client's own
    thread and loop, so the subscription is made and read there."""
    token = await login(client, rig.mine.email)
    bus = client.app.state.bus
    assert isinstance(bus, MemoryBus)  # no REDIS_URL: the in-process bus
    portal = client.blocking_portal
    name = channel(rig.mine.event.id)
    cm, sub = portal.call(_subscribe, bus, name)
    try:
        await _post(client, rig.base, token, queue="event", body="Go go go")
        got, raw = portal.call(_next, sub)
        message_id = await _id(pool, "Go go go")
        assert got == name == f"messages.event.{rig.mine.event.id}"
        assert Change.from_json(raw) == Change(rig.mine.event.id, None, "added", message_id)

        await _post(client, rig.base, token, queue=str(rig.finish.id), body="Finish only")
        finish_id = await _id(pool, "Finish only")
        change = Change.from_json(portal.call(_next, sub)[1])
        assert change == Change(rig.mine.event.id, rig.finish.id, "added", finish_id)
        assert change.concerns(rig.finish.id) and not change.concerns(rig.announcer.id)

        steps = [
            (f"{rig.base}/{message_id}", {"body": "Go!", "style": "ticker"}, "edited"),
            (f"{rig.base}/{message_id}/schedule", {"show_until": ""}, "scheduled"),
            (f"{rig.base}/{message_id}/delete", {}, "removed"),
        ]
        for path, data, action in steps:
            assert (await _post(client, path, token, **data)).status_code == 200
            change = Change.from_json(portal.call(_next, sub)[1])
            assert (change.action, change.message_id, change.display_id) == (
                action, message_id, None
            )  # fmt: skip
    finally:
        portal.call(cm.__aexit__, None, None, None)
