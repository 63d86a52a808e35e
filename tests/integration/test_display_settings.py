"""A display's settings page: every setting over HTTP, stored and on the screen; a new code, a
revoked display, a screen PIN; another tenant's display is a 404."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.catalog import Display, EventLocation, ParticipantIn
from app.domain.codes import is_display_code, new_display_code
from app.settings import Settings
from app.web.display_access import COOKIE_PREFIX
from app.web.factory import create_app
from tests.conftest import free_port
from tests.integration.tenancy import (
    PASSWORD,
    Client,
    TenantSeed,
    app_client,
    claimed_session,
    login,
    seed_tenant,
    serving,
)
from tests.integration.test_collector import scalar
from tests.integration.test_display_stream import T0, Race, _store

pytestmark = pytest.mark.timeout(90)

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
# A form that changes nothing but what a test sets on top of it.
DEFAULTS = {
    "name": "Finish line",
    "display_duration": "5",
    "transition": "fade",
    "duplicate_window": "60",
    "reorder_window": "10",
    "max_per_second": "0",
    "vips_first": "1",
    "show_unknown": "1",
}
_ROW = (
    "SELECT name, locations, display_duration, transition, duplicate_window, reorder_window,"
    " max_per_second, group_runners, vips_first, show_repeats, show_unknown, pin_hash, code,"
    " revoked_at FROM displays WHERE id = %s"
)


@dataclass(frozen=True)
class Seeded:
    mine: TenantSeed
    rival: TenantSeed
    display: Display
    rival_display: Display
    # A display of another event of the same tenant.
    other_event_display: Display


async def _display(
    pool: AsyncConnectionPool, seed: TenantSeed, event_id: int, name: str
) -> Display:
    async with pool.connection() as conn:
        return await catalog.create_display(
            conn, tenant_id=seed.tenant_id, event_id=event_id, code=new_display_code(), name=name
        )


@pytest.fixture
async def seeded(pool: AsyncConnectionPool) -> Seeded:
    mine = await seed_tenant(pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon", ct_event_id="CT-2")
    async with pool.connection() as conn:
        await catalog.replace_event_locations(
            conn,
            mine.tenant_id,
            mine.event.id,
            [EventLocation("10K", "split", 0), EventLocation("FINISH", "finish", 1)],
        )
        await catalog.upsert_participants(
            conn,
            mine.tenant_id,
            mine.event.id,
            [
                ParticipantIn("42", "1187", "Ann", "Lee", "F", 34),
                ParticipantIn("7", "2305", "Omar", "Khan", "M", 41),
            ],
        )
        other = await catalog.create_event(conn, tenant_id=mine.tenant_id, name="Harbor 5K")
    display = await _display(pool, mine, mine.event.id, "Finish line")
    rival_display = await _display(pool, rival, rival.event.id, "Rival screen")
    other_display = await _display(pool, mine, other.id, "5K screen")
    return Seeded(mine, rival, display, rival_display, other_display)


@pytest.fixture
async def client(db_url: str, seeded: Seeded) -> AsyncIterator[Client]:
    async with app_client(db_url) as c:
        yield c


def _path(seeded: Seeded, suffix: str = "") -> str:
    return f"/events/{seeded.mine.event.id}/displays/{seeded.display.id}{suffix}"


async def _row(pool: AsyncConnectionPool, display_id: int) -> tuple[Any, ...]:
    async with pool.connection() as conn:
        row = await (await conn.execute(_ROW, (display_id,))).fetchone()
    assert row is not None
    return tuple(row)


async def _audit(pool: AsyncConnectionPool, action: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT detail FROM audit_log WHERE action = %s ORDER BY id", (action,)
        )
        return [row[0] for row in await cur.fetchall()]


async def _race(pool: AsyncConnectionPool, seeded: Seeded) -> None:
    """Ann at the finish, Omar at 10K, and a chip nobody wears at the finish."""
    async with pool.connection() as conn:
        session = await claimed_session(
            conn, "sc-1", "Session_20260517_062000", "CT-1", "Harbor 10K"
        )
    race = Race(seeded.mine.tenant_id, seeded.mine.event.id, session.id, seeded.display)
    await _store(
        pool,
        race,
        [
            ("FINISH", "1187", T0),
            ("10K", "2305", T0 + timedelta(seconds=10)),
            ("FINISH", "4242", T0 + timedelta(seconds=20)),
        ],
    )


async def test_the_page_shows_the_address_with_a_copy_button_and_a_qr_code(
    client: Client, seeded: Seeded
) -> None:
    await login(client, seeded.mine.email)
    event = await client.get(f"/events/{seeded.mine.event.id}")
    assert f'href="{_path(seeded)}"' in event.text

    page = await client.get(_path(seeded))
    assert page.status_code == 200, page.text
    url = f"https://testserver.local/d/{seeded.display.code}"
    assert f'value="{url}"' in page.text
    assert 'data-copy="#display-url"' in page.text
    assert '<script src="/static/js/copy.js" defer></script>' in page.text
    # The QR code is drawn here as an inline SVG: no inline script or style for the CSP.
    assert "<svg" in page.text and "<script>" not in page.text and "style=" not in page.text
    script = await client.get("/static/js/copy.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text

    svg = await client.get(_path(seeded, "/qr"))
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "attachment" in svg.headers["content-disposition"]
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    png = await client.get(_path(seeded, "/qr"), params={"format": "png"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert (await client.get(_path(seeded, "/qr"), params={"format": "gif"})).status_code == 400


async def test_every_setting_is_stored_audited_and_reaches_the_screen(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    await _race(pool, seeded)
    feed = await client.get(f"/d/{seeded.display.code}/feed")
    assert feed.status_code == 200
    for name in ("Ann Lee", "Omar Khan", "Chip 4242"):
        assert name in feed.text, name

    token = await login(client, seeded.mine.email)
    saved = await client.post(
        _path(seeded),
        data={
            "_csrf_token": token,
            "name": "  Finish arch  ",
            "locations": ["FINISH"],
            "display_duration": "7.5",
            "transition": "slide",
            "duplicate_window": "3600",
            "reorder_window": "600",
            "max_per_second": "100",
            "group_runners": "1",
            "show_repeats": "1",
            "show_unknown": "0",
            "pin": "",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == _path(seeded, "?done=saved")
    row = await _row(pool, seeded.display.id)
    # vips_first was unticked: absent from the form is off.
    assert row[:12] == (
        "Finish arch",
        ["FINISH"],
        7500,
        "slide",
        3600,
        600,
        100,
        True,
        False,
        True,
        False,
        None,
    )
    page = await client.get(saved.headers["location"])
    assert "Saved." in page.text
    assert 'value="7.5"' in page.text and 'value="3600"' in page.text
    assert '<option value="slide" selected>' in page.text

    # The open display now takes only the finish and hides the unknown chip.
    feed = await client.get(f"/d/{seeded.display.code}/feed")
    assert feed.status_code == 200
    assert "Ann Lee" in feed.text
    assert "Omar Khan" not in feed.text and "4242" not in feed.text

    (entry,) = await _audit(pool, "display.settings")
    assert entry["display_id"] == seeded.display.id
    assert entry["changes"]["transition"] == ["fade", "slide"]
    assert entry["changes"]["locations"] == [[], ["FINISH"]]
    assert entry["changes"]["display_duration"] == [5000, 7500]
    assert "pin" not in entry

    # Back to every location, unknown chips shown: all three runners again.
    back = await client.post(
        _path(seeded), data={**DEFAULTS, "_csrf_token": token}, follow_redirects=False
    )
    assert back.status_code == 303
    feed = await client.get(f"/d/{seeded.display.code}/feed")
    for name in ("Ann Lee", "Omar Khan", "Chip 4242"):
        assert name in feed.text, name


async def test_invalid_values_are_refused_with_messages_and_nothing_changes(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    token = await login(client, seeded.mine.email)
    before = await _row(pool, seeded.display.id)
    bad = await client.post(
        _path(seeded),
        data={
            "_csrf_token": token,
            "name": "Renamed screen",
            "locations": ["FINISH", "NOWHERE"],
            "display_duration": "0",
            "transition": "spin",
            "duplicate_window": "3601",
            "reorder_window": "-1",
            "max_per_second": "101",
            "show_unknown": "maybe",
            "pin": "12x4",
        },
    )
    assert bad.status_code == 400
    for message in (
        "NOWHERE is not a location of this event",
        "Show each runner for 1 to 120 seconds",
        "Pick a transition",
        "duplicate window is a whole number of seconds from 0 to 3600",
        "reorder window is a whole number of seconds from 0 to 600",
        "Runners per second is a whole number from 0 (no limit) to 100",
        "Choose whether unknown chips",
        "A PIN is 4 to 8 digits",
    ):
        assert message in bad.text, message
    # What was typed stays in the form (the PIN aside), next to its message.
    assert 'value="Renamed screen"' in bad.text
    assert 'value="3601"' in bad.text and 'value="-1"' in bad.text and 'value="101"' in bad.text
    assert 'value="FINISH" checked' in bad.text
    assert "12x4" not in bad.text
    assert 'aria-invalid="true" aria-describedby="display_duration-error"' in bad.text
    assert await _row(pool, seeded.display.id) == before
    assert await _audit(pool, "display.settings") == []

    for field, value, message in (
        ("name", " ", "Give the display a name"),
        ("name", "x" * 101, "under 100 characters"),
        ("display_duration", "121", "1 to 120 seconds"),
        ("display_duration", "2.55", "tenths allowed"),
        ("display_duration", "five", "1 to 120 seconds"),
        ("max_per_second", "1.5", "Runners per second"),
        ("pin", "123", "4 to 8 digits"),
        ("pin", "123456789", "4 to 8 digits"),
    ):
        r = await client.post(_path(seeded), data={**DEFAULTS, field: value, "_csrf_token": token})
        assert r.status_code == 400 and message in r.text, (field, value)
    both = await client.post(
        _path(seeded),
        data={**DEFAULTS, "pin": "1234", "clear_pin": "1", "_csrf_token": token},
    )
    assert both.status_code == 400 and "not both" in both.text
    assert await _row(pool, seeded.display.id) == before

    # Without the CSRF token nothing is even looked at.
    forged = await client.post(_path(seeded), data={**DEFAULTS, "name": "Forged"})
    assert forged.status_code == 403
    assert (await _row(pool, seeded.display.id))[0] == "Finish line"


async def test_a_new_code_cuts_off_the_old_one_at_once(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    old = seeded.display.code
    assert (await client.get(f"/d/{old}")).status_code == 200
    assert (await client.get(f"/d/{old}/feed")).status_code == 200
    token = await login(client, seeded.mine.email)
    rotated = await client.post(
        _path(seeded, "/rotate"), data={"_csrf_token": token}, follow_redirects=False
    )
    assert rotated.status_code == 303
    assert rotated.headers["location"] == _path(seeded, "?done=rotated")
    new = (await _row(pool, seeded.display.id))[12]
    assert new != old and is_display_code(new)
    for suffix in ("", "/feed", "/current"):
        assert (await client.get(f"/d/{old}{suffix}")).status_code == 404, suffix
        assert (await client.get(f"/d/{new}{suffix}")).status_code == 200, suffix
    page = await client.get(rotated.headers["location"])
    assert f"https://testserver.local/d/{new}" in page.text and old not in page.text
    assert "the old address no longer works" in page.text
    (entry,) = await _audit(pool, "display.rotate_code")
    assert entry["display_id"] == seeded.display.id and old not in str(entry)


async def test_revoking_asks_first_then_the_code_404s_and_the_display_is_gone(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    code = seeded.display.code
    token = await login(client, seeded.mine.email)
    unconfirmed = await client.post(
        _path(seeded, "/revoke"), data={"_csrf_token": token}, follow_redirects=False
    )
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["location"] == _path(seeded, "/revoke")
    confirm = await client.get(_path(seeded, "/revoke"))
    assert confirm.status_code == 200 and "Revoke Finish line?" in confirm.text
    assert (await _row(pool, seeded.display.id))[13] is None
    assert (await client.get(f"/d/{code}")).status_code == 200

    found = _CSRF.search(confirm.text)
    assert found
    token = found.group(1)
    revoked = await client.post(
        _path(seeded, "/revoke"),
        data={"_csrf_token": token, "confirm": "revoke"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/events/{seeded.mine.event.id}"
    assert (await _row(pool, seeded.display.id))[13] is not None
    for suffix in ("", "/feed", "/current", "/stream"):
        assert (await client.get(f"/d/{code}{suffix}")).status_code == 404, suffix
    event = await client.get(revoked.headers["location"])
    assert event.status_code == 200
    assert f'id="display-{seeded.display.id}"' not in event.text and code not in event.text
    for suffix in ("", "/revoke", "/qr"):
        assert (await client.get(_path(seeded, suffix))).status_code == 404, suffix
    again = await client.post(
        _path(seeded, "/rotate"), data={"_csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 404
    (entry,) = await _audit(pool, "display.revoke")
    assert entry == {"display_id": seeded.display.id, "name": "Finish line"}


async def test_an_archived_event_keeps_its_settings_but_can_still_revoke(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    token = await login(client, seeded.mine.email)
    archived = await client.post(
        f"/events/{seeded.mine.event.id}/archive",
        data={"_csrf_token": token},
        follow_redirects=False,
    )
    assert archived.status_code == 303
    before = await _row(pool, seeded.display.id)
    page = await client.get(_path(seeded))
    assert page.status_code == 200 and "archived and read-only" in page.text
    changed = await client.post(
        _path(seeded), data={**DEFAULTS, "name": "Late", "_csrf_token": token}
    )
    assert changed.status_code == 400 and "archived" in changed.text
    rotated = await client.post(_path(seeded, "/rotate"), data={"_csrf_token": token})
    assert rotated.status_code == 400
    assert await _row(pool, seeded.display.id) == before
    revoked = await client.post(
        _path(seeded, "/revoke"),
        data={"_csrf_token": token, "confirm": "revoke"},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert (await client.get(f"/d/{seeded.display.code}")).status_code == 404


async def test_another_tenants_or_another_events_display_is_404(
    client: Client, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    token = await login(client, seeded.mine.email)
    mine = seeded.mine.event.id
    targets = [
        # The rival's display, under the rival's event and under mine.
        (seeded.rival.event.id, seeded.rival_display.id),
        (mine, seeded.rival_display.id),
        # My own display of another event, under this one.
        (mine, seeded.other_event_display.id),
        (mine, 999_999),
    ]
    guarded = [seeded.rival_display.id, seeded.other_event_display.id]
    before = [await _row(pool, d) for d in guarded]
    for event_id, display_id in targets:
        base = f"/events/{event_id}/displays/{display_id}"
        for suffix in ("", "/revoke", "/qr"):
            r = await client.get(base + suffix)
            assert r.status_code == 404, (base + suffix, r.status_code)
            assert "Rival screen" not in r.text and seeded.rival_display.code not in r.text
        for suffix, form in (
            ("", {**DEFAULTS, "name": "Stolen"}),
            ("/rotate", {}),
            ("/revoke", {}),
            ("/revoke", {"confirm": "revoke"}),
        ):
            r = await client.post(
                base + suffix, data={**form, "_csrf_token": token}, follow_redirects=False
            )
            assert r.status_code == 404, (base + suffix, r.status_code)
    assert [await _row(pool, d) for d in guarded] == before
    assert await scalar(pool, "SELECT count(*) FROM audit_log WHERE action LIKE 'display.%%'") == 0


# --- the screen PIN, over a real server: an SSE stream needs one ------------------------------


@dataclass
class Served:
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def served(db_url: str, seeded: Seeded, pool: AsyncConnectionPool) -> AsyncIterator[Served]:
    port = free_port()
    settings = Settings(
        database_url=db_url,
        secret_key="pin-secret-" + "x" * 40,
        http_port=port,
        collector_status_url="http://127.0.0.1:9/status",
    )
    app = create_app(settings, pool=pool)
    async with serving(app, port) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Served(url, http)


async def _sign_in(http: httpx.AsyncClient, email: str) -> str:
    page = await http.get("/login")
    token = _CSRF.search(page.text)
    assert token
    r = await http.post(
        "/login", data={"email": email, "password": PASSWORD, "_csrf_token": token.group(1)}
    )
    assert r.status_code in (200, 303), r.text
    token = _CSRF.search((await http.get("/login")).text)
    assert token
    return token.group(1)


async def _stream_status(http: httpx.AsyncClient, code: str) -> int:
    async with http.stream("GET", f"/d/{code}/stream") as response:
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("text/event-stream")
        return response.status_code


async def _screen_sees(http: httpx.AsyncClient, code: str) -> bool:
    """Whether a screen with these cookies gets the display: page, stream, feed and current."""
    page = await http.get(f"/d/{code}")
    assert page.status_code == 200
    statuses = [
        await _stream_status(http, code),
        (await http.get(f"/d/{code}/feed")).status_code,
        (await http.get(f"/d/{code}/current")).status_code,
    ]
    if "sse-connect" in page.text:
        assert statuses == [200, 200, 200], statuses
        return True
    assert f'action="/d/{code}/pin"' in page.text, page.text
    assert statuses == [403, 403, 403], statuses
    return False


async def test_a_screen_pin_locks_the_display_until_the_right_pin_is_entered(
    served: Served, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    code = seeded.display.code
    director = served.http
    token = await _sign_in(director, seeded.mine.email)

    async def save(**extra: str) -> None:
        r = await director.post(
            _path(seeded),
            data={**DEFAULTS, "_csrf_token": token, **extra},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

    async with httpx.AsyncClient(base_url=served.url, timeout=10) as screen:
        assert await _screen_sees(screen, code)
        await save(pin="2468")
        assert (await _row(pool, seeded.display.id))[11].startswith("$argon2")
        (entry,) = await _audit(pool, "display.settings")
        assert entry["pin"] == "set" and "2468" not in str(entry)
        assert not await _screen_sees(screen, code)
        locked = await screen.get(f"/d/{code}/current")
        assert locked.status_code == 403
        assert "This display is locked with a PIN" in locked.text

        wrong = await screen.post(f"/d/{code}/pin", data={"pin": "1357"})
        assert wrong.status_code == 401 and "That PIN is not right" in wrong.text
        assert not await _screen_sees(screen, code)
        right = await screen.post(f"/d/{code}/pin", data={"pin": "2468", "poll": "1"})
        assert right.status_code == 303
        assert right.headers["location"] == f"/d/{code}?poll=1"
        cookie = right.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_PREFIX}{seeded.display.id}=")
        # One cookie opens the display's screen, spectator and announcer pages and its API.
        assert "HttpOnly" in cookie and "Path=/;" in cookie + ";"
        assert await _screen_sees(screen, code)
        for path in (f"/s/{code}", f"/a/{code}", f"/api/displays/{code}"):
            assert (await screen.get(path)).status_code == 200, path
        spectator = await screen.post(f"/d/{code}/pin", data={"pin": "2468", "page": "s"})
        assert spectator.headers["location"] == f"/s/{code}"
        elsewhere = await screen.post(f"/d/{code}/pin", data={"pin": "2468", "page": "//x"})
        assert elsewhere.headers["location"] == f"/d/{code}"

        # Setting the PIN again, even to the same digits, locks the screens out.
        await save(pin="2468")
        assert not await _screen_sees(screen, code)
        assert (await screen.post(f"/d/{code}/pin", data={"pin": "2468"})).status_code == 303
        assert await _screen_sees(screen, code)
        await save(pin="97531")
        assert not await _screen_sees(screen, code)

        # A made-up cookie opens nothing.
        forged = {"cookie": f"{COOKIE_PREFIX}{seeded.display.id}={'0' * 64}"}
        async with httpx.AsyncClient(base_url=served.url, timeout=10, headers=forged) as fake:
            assert not await _screen_sees(fake, code)

        # Cleared: every screen sees the display again, cookie or not.
        await save(clear_pin="1")
        assert (await _row(pool, seeded.display.id))[11] is None
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as fresh:
            assert await _screen_sees(fresh, code)
        no_pin = await screen.post(f"/d/{code}/pin", data={"pin": "1111"})
        assert no_pin.status_code == 303
        assert [e.get("pin") for e in await _audit(pool, "display.settings")] == [
            "set",
            "set",
            "set",
            "cleared",
        ]


async def test_a_new_pin_cuts_off_open_screens_in_every_app_process(
    db_url: str, redis_url: str, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    """Two app processes over one Redis: a screen streaming from the other one is cut off
    at once when the director sets a PIN, and cannot come back without it."""
    code = seeded.display.code
    ports = free_port(), free_port()
    apps = [
        create_app(
            Settings(
                database_url=db_url,
                redis_url=redis_url,
                secret_key="pin-secret-" + "x" * 40,
                http_port=port,
                collector_status_url="http://127.0.0.1:9/status",
            ),
            pool=pool,
        )
        for port in ports
    ]
    async with (
        serving(apps[0], ports[0]) as editing,
        serving(apps[1], ports[1]) as other,
        httpx.AsyncClient(base_url=editing, timeout=10) as director,
        httpx.AsyncClient(base_url=other, timeout=10) as screen,
    ):
        token = await _sign_in(director, seeded.mine.email)
        async with screen.stream("GET", f"/d/{code}/stream") as stream:
            assert stream.status_code == 200
            chunks = stream.aiter_bytes()
            seen = b""
            while b"event: board" not in seen:
                seen += await anext(chunks)
            saved = await director.post(
                _path(seeded),
                data={**DEFAULTS, "_csrf_token": token, "pin": "2468"},
                follow_redirects=False,
            )
            assert saved.status_code == 303, saved.text
            # The other process ends the stream (well before its 10 s settings check).
            async with asyncio.timeout(3):
                async for _ in chunks:
                    pass
        assert await _stream_status(screen, code) == 403


async def test_wrong_pins_are_throttled_per_address(
    served: Served, seeded: Seeded, pool: AsyncConnectionPool
) -> None:
    code = seeded.display.code
    token = await _sign_in(served.http, seeded.mine.email)
    r = await served.http.post(
        _path(seeded), data={**DEFAULTS, "pin": "4321", "_csrf_token": token}
    )
    assert r.status_code in (200, 303)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as screen:
        for _ in range(10):
            assert (await screen.post(f"/d/{code}/pin", data={"pin": "0000"})).status_code == 401
        # Even the right PIN waits now, and the screen is told for how long.
        throttled = await screen.post(f"/d/{code}/pin", data={"pin": "4321"})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Too many wrong PINs" in throttled.text
        assert not await _screen_sees(screen, code)
    assert await scalar(pool, "SELECT count(*) FROM display_pin_failures") == 10


async def test_an_unknown_code_has_no_pin_form(client: Client, seeded: Seeded) -> None:
    r = await client.post("/d/zzzzzzzz/pin", data={"pin": "1234"})
    assert r.status_code == 404
    # A display without a PIN sends the screen straight on.
    r = await client.post(
        f"/d/{seeded.display.code}/pin", data={"pin": "1234"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/d/{seeded.display.code}"
    # The builder's own pages stay behind the login.
    r = await client.get(_path(seeded), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
