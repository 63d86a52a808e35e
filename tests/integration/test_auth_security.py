"""Sessions, CSRF, login throttling, the audit log and security headers, on real services."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
import pytest
import redis.asyncio as redis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.codes import new_display_code
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from app.web.security import cookies_secure

OWNER = "owner@harbor-timing.test"
OPERATOR = "operator@harbor-timing.test"
RIVAL = "rival@rival-timing.test"
PASSWORD = "correct horse battery staple"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Seed:
    tenant_id: int
    rival_tenant_id: int
    display_code: str


@pytest.fixture
async def seed(pool: AsyncConnectionPool) -> Seed:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "harbor-timing", "Harbor Timing")
        rival = await catalog.create_tenant(conn, "rival-timing", "Rival Timing")
        for tenant_id, email, role in [
            (tenant.id, OWNER, "owner"),
            (tenant.id, OPERATOR, "operator"),
            (rival.id, RIVAL, "owner"),
        ]:
            await catalog.create_user(
                conn,
                tenant_id=tenant_id,
                email=email,
                password_hash=hash_password(PASSWORD),
                role=role,
            )
        event = await catalog.create_event(conn, tenant_id=tenant.id, name="Harbor 10K")
        display = await catalog.create_display(
            conn,
            tenant_id=tenant.id,
            event_id=event.id,
            code=new_display_code(),
            name="Finish line",
            locations=[],
        )
    return Seed(tenant.id, rival.id, display.code)


def _settings(db_url: str, redis_url: str | None = None) -> Settings:
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        secret_key="test-secret-" + "x" * 40,
        public_base_url="https://screens.example.test",
    )


@pytest.fixture
async def client(db_url: str, seed: Seed) -> AsyncIterator[Client]:
    """Sessions in PostgreSQL: REDIS_URL unset."""
    async with AsyncTestClient(
        app=create_app(_settings(db_url)), base_url="https://testserver.local"
    ) as c:
        yield c


async def _csrf(client: Client, path: str = "/login") -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def _post_login(client: Client, email: str, password: str) -> object:
    token = await _csrf(client)
    return await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )


async def _login(client: Client, email: str = OWNER) -> str:
    r = await _post_login(client, email, PASSWORD)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    value = client.cookies.get("rd_session")
    assert value and value != "null"
    return value


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def _audit(db_url: str) -> list[tuple[int | None, int | None, str, dict[str, object]]]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT tenant_id, user_id, action, detail FROM audit_log ORDER BY id"
        )
        return [tuple(row) for row in await cur.fetchall()]  # type: ignore[misc]


# --- server-side sessions -------------------------------------------------------------------


async def test_sessions_live_in_postgresql_keyed_by_a_hash(client: Client, db_url: str) -> None:
    anonymous = await client.get("/login")
    assert "rd_session" not in anonymous.headers.get("set-cookie", "")
    session_id = await _login(client)
    assert (await client.get("/events")).status_code == 200
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT id, data, expires_at > now() FROM web_sessions")
        rows = await cur.fetchall()
    assert len(rows) == 1
    key, data, live = rows[0]
    assert key == _key(session_id) and live
    assert session_id not in key and b"user_id" in bytes(data)


async def test_sessions_live_in_redis_when_configured(
    db_url: str, redis_url: str, seed: Seed
) -> None:
    app = create_app(_settings(db_url, redis_url))
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as c:
        session_id = await _login(c)
        assert (await c.get("/events")).status_code == 200
        r = redis.Redis.from_url(redis_url)
        try:
            key = f"racedisplay:session:{_key(session_id)}"
            assert await r.exists(key)
            assert 0 < await r.ttl(key) <= 7 * 24 * 3600
            token = await _csrf(c, "/events")
            out = await c.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
            assert out.status_code == 303
            assert not await r.exists(key)
        finally:
            await r.aclose()
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM web_sessions")
        assert (await cur.fetchone()) == (0,)


async def test_expired_sessions_do_not_sign_in_and_are_purged(client: Client, db_url: str) -> None:
    await _login(client)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
    r = await client.get("/events", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        # The refused cookie's row went at once; rows nobody presents go in the periodic purge.
        cur = await conn.execute("SELECT count(*) FROM web_sessions")
        assert (await cur.fetchone()) == (0,)
        await conn.execute(
            "INSERT INTO web_sessions VALUES ('stale', 'x', now() - interval '1 hour'),"
            " ('live', 'y', now() + interval '1 hour')"
        )
    store = client.app.stores.get("sessions")
    assert await store.purge_expired() == 1  # type: ignore[attr-defined]
    assert await store.get("live") == b"y"
    assert await store.get("stale") is None


async def test_a_new_session_id_on_login_and_a_planted_one_is_never_adopted(
    client: Client, db_url: str
) -> None:
    planted = "a" * 64
    client.cookies.set("rd_session", planted, domain="testserver.local")
    first = await _login(client)
    assert first != planted
    again = await _login(client)
    assert again != first
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT id FROM web_sessions")
        keys = {row[0] for row in await cur.fetchall()}
    # Only the newest id is live: the planted one and the previous one are gone.
    assert keys == {_key(again)}


async def test_logout_deletes_the_session_so_a_replayed_cookie_is_refused(
    client: Client, db_url: str, seed: Seed
) -> None:
    old = await _login(client)
    token = await _csrf(client, "/events")
    r = await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "rd_session=null" in r.headers["set-cookie"]

    client.cookies.delete("rd_session")
    client.cookies.set("rd_session", old, domain="testserver.local")
    replay = await client.get("/events", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"] == "/login?next=/events"
    rows = await _audit(db_url)
    assert rows[-1][0] == seed.tenant_id and rows[-1][2] == "logout"


async def test_session_cookie_flags(client: Client) -> None:
    token = await _csrf(client)
    r = await client.post(
        "/login",
        data={"email": OWNER, "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("rd_session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax", "secure", "path=/"} <= flags


def test_cookies_are_secure_except_for_plain_http_on_loopback() -> None:
    assert cookies_secure("https://screens.example.test")
    assert cookies_secure("http://screens.example.test")
    assert cookies_secure("http://0.0.0.0:8000")
    assert not cookies_secure("http://127.0.0.1:8000")
    assert not cookies_secure("http://localhost:8000")
    assert not cookies_secure("http://[::1]:8000")


# --- CSRF -----------------------------------------------------------------------------------


async def test_a_post_without_csrf_token_is_403(client: Client) -> None:
    await client.get("/login")
    r = await client.post("/login", data={"email": OWNER, "password": PASSWORD})
    assert r.status_code == 403
    assert "expired" in r.text
    await _login(client)
    out = await client.post("/logout", follow_redirects=False)
    assert out.status_code == 403
    assert (await client.get("/events")).status_code == 200


async def test_csrf_token_is_accepted_from_the_form_and_the_htmx_header(client: Client) -> None:
    await _login(client)  # the form field
    page = await client.get("/events")
    header = re.search(r"hx-headers='\{\"x-csrftoken\": \"([^\"]+)\"\}'", page.text)
    assert header, "base.html sends the token to htmx"
    r = await client.post(
        "/logout",
        headers={"x-csrftoken": header.group(1), "HX-Request": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 303


# --- login throttling -----------------------------------------------------------------------


async def test_five_failures_lock_the_account_for_a_while(
    client: Client, db_url: str, seed: Seed
) -> None:
    for _ in range(5):
        r = await _post_login(client, OWNER.upper(), "wrong guess")
        assert r.status_code == 401  # type: ignore[attr-defined]
    # Even the right password is not checked now.
    r = await _post_login(client, OWNER, PASSWORD)
    assert r.status_code == 429  # type: ignore[attr-defined]
    retry = int(r.headers["retry-after"])  # type: ignore[attr-defined]
    assert 0 < retry <= 15 * 60
    assert "Too many failed sign-ins" in r.text  # type: ignore[attr-defined]
    assert "Wait 15 minutes" in r.text  # type: ignore[attr-defined]
    # Another account from the same address is unaffected.
    assert (await _post_login(client, OPERATOR, PASSWORD)).status_code == 303  # type: ignore[attr-defined]

    rows = await _audit(db_url)
    owner_rows = [row for row in rows if row[3].get("email") == OWNER]
    assert [row[2] for row in owner_rows] == ["login.failure"] * 5 + ["login.throttled"]
    assert all(row[0] == seed.tenant_id and row[1] is not None for row in owner_rows)
    assert rows[-1][2] == "login.success"


async def test_a_successful_login_clears_the_accounts_counter(client: Client) -> None:
    for _ in range(4):
        assert (await _post_login(client, OWNER, "wrong")).status_code == 401  # type: ignore[attr-defined]
    await _login(client)
    for _ in range(4):
        assert (await _post_login(client, OWNER, "wrong")).status_code == 401  # type: ignore[attr-defined]
    await _login(client)


async def test_twenty_failures_from_one_address_lock_that_address(
    client: Client, db_url: str
) -> None:
    for i in range(20):
        r = await _post_login(client, f"nobody{i}@example.test", "guess")
        assert r.status_code == 401  # type: ignore[attr-defined]
    r = await _post_login(client, RIVAL, PASSWORD)
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert int(r.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    rows = await _audit(db_url)
    assert rows[-1][2] == "login.throttled"
    # Unknown addresses are platform entries (no tenant); the counters live in PostgreSQL.
    assert rows[0][0] is None and rows[0][1] is None
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM login_failures WHERE ip = 'testclient'")
        assert (await cur.fetchone()) == (20,)


# --- audit page -----------------------------------------------------------------------------


async def test_audit_page_shows_the_own_tenants_entries_to_owners_only(
    client: Client, db_url: str, seed: Seed
) -> None:
    assert (await _post_login(client, RIVAL, "wrong")).status_code == 401  # type: ignore[attr-defined]
    await _login(client, OPERATOR)
    assert (await client.get("/audit")).status_code == 403
    await _login(client, OWNER)
    page = await client.get("/audit")
    assert page.status_code == 200
    assert page.text.count('data-action="login.success"') == 2
    assert RIVAL not in page.text
    assert 'href="/audit"' in page.text


async def test_audit_page_needs_a_login(client: Client) -> None:
    r = await client.get("/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/audit"


# --- security headers -----------------------------------------------------------------------


def _assert_security_headers(headers: object, frame_ancestors: str) -> None:
    get = headers.get  # type: ignore[attr-defined]
    csp = get("content-security-policy")
    assert csp, "no Content-Security-Policy"
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == frame_ancestors
    assert "unsafe" not in csp
    assert get("x-content-type-options") == "nosniff"
    assert get("referrer-policy") == "same-origin"
    assert get("server") is None


async def test_security_headers_on_pages_fragments_displays_static_and_errors(
    client: Client, seed: Seed
) -> None:
    _assert_security_headers((await client.get("/login")).headers, "'none'")
    await _login(client)
    _assert_security_headers((await client.get("/events")).headers, "'none'")
    _assert_security_headers((await client.get("/audit")).headers, "'none'")
    fragment = await client.get("/audit", headers={"HX-Request": "true"})
    _assert_security_headers(fragment.headers, "'none'")
    _assert_security_headers((await client.get("/nowhere")).headers, "'none'")
    display = await client.get(f"/d/{seed.display_code}")
    assert display.status_code == 200
    assert "hx-on" not in display.text and "/static/js/display.js" in display.text
    _assert_security_headers(display.headers, "'self'")
    _assert_security_headers((await client.get("/d/zzzzzzzz")).headers, "'self'")
    script = await client.get("/static/js/display.js")
    assert script.status_code == 200
    _assert_security_headers(script.headers, "'none'")
    assert '"includeIndicatorStyles": false' in (await client.get("/login")).text
