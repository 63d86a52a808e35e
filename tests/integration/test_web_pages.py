"""Builder pages, login and public display pages against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import ParticipantIn
from app.domain.codes import new_display_code
from app.domain.reads import NewRead
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from tests.integration.tenancy import claimed_session

EMAIL = "tess@harbor-timing.test"
PASSWORD = "correct horse battery staple"
BASE_URL = "https://screens.example.test"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Seed:
    event_id: int
    display_code: str
    session_name: str
    foreign_event_id: int
    foreign_display_code: str


async def _tenant_event(
    pool: AsyncConnectionPool,
    *,
    slug: str,
    email: str,
    event_name: str,
    ct_event_id: str,
    display_name: str,
    session_name: str,
) -> tuple[int, str]:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, slug, slug.title())
        await catalog.create_user(
            conn,
            tenant_id=tenant.id,
            email=email,
            password_hash=hash_password(PASSWORD),
            role="owner",
            display_name="Tess Timer",
        )
        event = await catalog.create_event(
            conn,
            tenant_id=tenant.id,
            name=event_name,
            event_date=date(2026, 5, 17),
            time_zone="Europe/Oslo",
            ct_event_id=ct_event_id,
        )
        await catalog.upsert_participants(
            conn, tenant.id, event.id, [ParticipantIn("42", "001187", "Ann", "Lee", "F", 34)]
        )
        display = await catalog.create_display(
            conn,
            tenant_id=tenant.id,
            event_id=event.id,
            code=new_display_code(),
            name=display_name,
            locations=["FINISH"],
        )
        session = await claimed_session(conn, f"{slug}-sc", session_name, ct_event_id, event_name)
        location = await timing.ensure_location(conn, session.id, "FINISH")
        at = datetime(2026, 5, 17, 6, 21, 44, 900_000, tzinfo=UTC)
        await timing.store_reads(
            conn,
            [
                NewRead(
                    session.id,
                    location,
                    1,
                    "FINISH",
                    "1187",
                    "08:21:44.90",
                    at,
                    1,
                    "0D4E5F",
                    1,
                    "CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~1",
                    at,
                )
            ],
        )
    return event.id, display.code


@pytest.fixture
async def seed(pool: AsyncConnectionPool) -> Seed:
    event_id, code = await _tenant_event(
        pool,
        slug="harbor-timing",
        email=EMAIL,
        event_name="Harbor 10K",
        ct_event_id="CT-1",
        display_name="Finish line",
        session_name="Session_20260517_201439",
    )
    foreign_event_id, foreign_code = await _tenant_event(
        pool,
        slug="rival-timing",
        email="rival@rival-timing.test",
        event_name="Secret Marathon",
        ct_event_id="CT-2",
        display_name="Rival screen",
        session_name="Session_rival_090000",
    )
    return Seed(event_id, code, "Session_20260517_201439", foreign_event_id, foreign_code)


@pytest.fixture
async def client(db_url: str, seed: Seed) -> AsyncIterator[Client]:
    # No pool or bus given: the app opens and closes its own in the lifespan, as `web` runs.
    settings = Settings(
        database_url=db_url, secret_key="test-secret-" + "x" * 40, public_base_url=BASE_URL
    )
    async with AsyncTestClient(app=create_app(settings), base_url="https://testserver.local") as c:
        yield c


async def _csrf(client: Client, path: str = "/login") -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def _login(client: Client) -> None:
    token = await _csrf(client)
    r = await client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/events"


async def test_wrong_password_is_401_with_message_and_keeps_email(
    client: Client,
) -> None:
    token = await _csrf(client)
    r = await client.post(
        "/login", data={"email": EMAIL, "password": "wrong guess", "_csrf_token": token}
    )
    assert r.status_code == 401
    assert "Wrong e-mail or password" in r.text
    assert f'value="{EMAIL}"' in r.text
    assert "wrong guess" not in r.text


async def test_login_shows_the_tenants_events_only(
    client: Client,
) -> None:
    await _login(client)
    r = await client.get("/events")
    assert r.status_code == 200
    assert "Harbor 10K" in r.text
    assert "Secret Marathon" not in r.text
    assert "/static/vendor/htmx-2.0.11.min.js" in r.text
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/events"


async def test_logged_out_visitors_are_sent_to_login(
    client: Client,
) -> None:
    r = await client.get("/events", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/events"
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"
    htmx = await client.get("/events/1/sessions", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"] == "/login"


async def test_event_page_lists_sessions_and_displays(
    client: Client,
    seed: Seed,
) -> None:
    await _login(client)
    r = await client.get(f"/events/{seed.event_id}")
    assert r.status_code == 200
    assert "Harbor 10K" in r.text
    assert seed.session_name in r.text
    assert "Finish line" in r.text
    assert f'href="{BASE_URL}/d/{seed.display_code}"' in r.text
    assert f'hx-get="/events/{seed.event_id}/sessions"' in r.text
    fragment = await client.get(f"/events/{seed.event_id}/sessions", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert seed.session_name in fragment.text
    assert "<html" not in fragment.text


async def test_foreign_event_is_404_without_its_data(
    client: Client,
    seed: Seed,
) -> None:
    await _login(client)
    token = await _csrf(client, "/events")
    for r in (
        await client.get(f"/events/{seed.foreign_event_id}"),
        await client.get(f"/events/{seed.foreign_event_id}/sessions"),
        await client.post(
            f"/events/{seed.foreign_event_id}/displays",
            data={"name": "Sneaky", "_csrf_token": token},
        ),
    ):
        assert r.status_code == 404
        for secret in (
            "Secret Marathon",
            "Session_rival",
            "Rival screen",
            seed.foreign_display_code,
        ):
            assert secret not in r.text


async def test_create_event_and_display(
    client: Client,
) -> None:
    await _login(client)
    token = await _csrf(client, "/events")
    bad = await client.post(
        "/events",
        data={"name": "Fjord Run", "time_zone": "Mars/Olympus", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 400
    assert "is not a time zone" in bad.text
    assert "<html" not in bad.text
    made = await client.post(
        "/events",
        data={
            "name": "Fjord Run",
            "event_date": "2026-06-01",
            "time_zone": "Europe/Oslo",
            "ct_event_id": "CT-9",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    event_path = made.headers["location"]
    r = await client.post(
        f"{event_path}/displays",
        data={"name": "Announcer", "locations": "FINISH, 10K,", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert r.headers["hx-redirect"].startswith(event_path)
    page = await client.get(event_path)
    assert "Announcer" in page.text
    assert "FINISH, 10K" in page.text


async def test_form_posts_need_the_csrf_token(
    client: Client,
) -> None:
    await client.get("/login")
    r = await client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 403
    assert "expired" in r.text


async def test_display_pages(
    client: Client,
    seed: Seed,
    pool: AsyncConnectionPool,
) -> None:
    for path in ("/d/bad", "/d/ABCDEFGH", "/d/aaaaaaaa"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "This display is not available." in r.text
    page = await client.get(f"/d/{seed.display_code}")
    assert page.status_code == 200
    # The first paint already shows the latest runner, so a screen is never blank.
    assert "Ann Lee" in page.text
    assert "08:21:44.9" in page.text
    assert f'sse-connect="/d/{seed.display_code}/stream?after=' in page.text
    assert "/static/vendor/htmx-ext-sse-2.2.4.js" in page.text
    assert "Secret Marathon" not in page.text
    polled = await client.get(f"/d/{seed.display_code}?poll=1")
    assert f'hx-get="/d/{seed.display_code}/feed"' in polled.text
    assert 'hx-trigger="every 2s"' in polled.text
    assert "sse-connect" not in polled.text
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE displays SET revoked_at = now() WHERE code = %s", (seed.display_code,)
        )
    # Revoked behind the app's back (the app's own revoke answers 404 at once): a process
    # reuses a code's lookup for a second, so polling screens do not cost a query each.
    for _ in range(30):
        revoked = await client.get(f"/d/{seed.display_code}")
        if revoked.status_code != 200:
            break
        await asyncio.sleep(0.1)
    assert revoked.status_code == 404
    assert "This display is not available." in revoked.text


async def test_health_and_vendored_assets(
    client: Client,
) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": True, "bus": True}
    for asset in ("vendor/htmx-2.0.11.min.js", "vendor/htmx-ext-sse-2.2.4.js", "css/app.css"):
        assert (await client.get(f"/static/{asset}")).status_code == 200, asset
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert "Traceback" not in missing.text
