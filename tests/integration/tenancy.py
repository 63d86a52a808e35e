"""Shared by the event, session-rule and admin-session tests: tenants, logins and providers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import Event
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from tests.integration.test_collector import RawProvider

PASSWORD = "correct horse battery staple"
Client = AsyncTestClient[Litestar]


@asynccontextmanager
async def app_client(db_url: str, **settings: Any) -> AsyncIterator[Client]:
    """The app over its own pool, as a browser on https reaches it. No collector listens at
    the status URL: pages must cope with an unreachable one."""
    config = Settings(
        database_url=db_url,
        secret_key="test-secret-" + "x" * 40,
        collector_status_url="http://127.0.0.1:9/status",
        **settings,
    )
    async with Client(app=create_app(config), base_url="https://testserver.local") as client:
        yield client


_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class TenantSeed:
    tenant_id: int
    email: str
    event: Event


async def seed_tenant(
    pool: AsyncConnectionPool,
    slug: str,
    event_name: str,
    *,
    ct_event_id: str | None = None,
    provider_key: str | None = None,
    role: str = "owner",
) -> TenantSeed:
    email = f"owner@{slug}.test"
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, slug, slug.title())
        await catalog.create_user(
            conn,
            tenant_id=tenant.id,
            email=email,
            password_hash=hash_password(PASSWORD),
            role=role,
        )
        event = await catalog.create_event(
            conn,
            tenant_id=tenant.id,
            name=event_name,
            ct_event_id=ct_event_id,
            provider_key=provider_key,
        )
    return TenantSeed(tenant.id, email, event)


async def seed_platform_admin(pool: AsyncConnectionPool, email: str = "root@platform.test") -> str:
    async with pool.connection() as conn:
        await catalog.create_user(
            conn,
            tenant_id=None,
            email=email,
            password_hash=hash_password(PASSWORD),
            role="platform_admin",
        )
    return email


async def csrf(client: Client, path: str = "/login") -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path} ({page.status_code})"
    return match.group(1)


async def login(client: Client, email: str) -> str:
    """Signs in; returns a CSRF token for the forms that follow."""
    token = await csrf(client)
    r = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return await csrf(client, "/login")


async def open_session(pool: AsyncConnectionPool, identity: str, name: str) -> int:
    async with pool.connection() as conn:
        row = await timing.open_session(
            conn,
            provider_identity=identity,
            session_name=name,
            provider_program="SimpleClient",
            provider_version="3.0",
        )
    return row.id


async def claimed_session(
    conn: Any, identity: str, name: str, ct_event_id: str, event_name: str
) -> timing.SessionRow:
    """A SimpleClient session, opened as the collector opens one, claimed for an event."""
    session = await timing.open_session(
        conn,
        provider_identity=identity,
        session_name=name,
        provider_program="SimpleClient",
        provider_version="3.0",
    )
    await timing.claim_session(conn, session.id, ct_event_id, event_name)
    return session


class Provider(RawProvider):
    """A hand-driven CTP01 provider (SimpleClient as a timer would set it up)."""

    @classmethod
    async def connect(  # type: ignore[override]
        cls,
        port: int,
        *,
        connection_id: str,
        ct_event_id: str = "",
        locations: tuple[str, ...] = ("FINISH",),
    ) -> Provider:
        provider = await super().connect(port, connection_id, locations, ct_event_id=ct_event_id)
        assert isinstance(provider, Provider)
        return provider

    def read(self, seq: int, location: str = "FINISH", tag: str = "1187") -> None:
        self.send(f"CT01_33~{seq}~{location}~{tag}~2026-10-05T08:21:{seq % 60:02d}.90~1~0D4E5F~2")

    async def closed_by_peer(self) -> bool:
        """Waits for the collector to close the connection (False: still open after 10 s)."""
        try:
            async with asyncio.timeout(10):
                while await self.reader.read(4096):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True


@asynccontextmanager
async def serving(app: Litestar, port: int, start_s: float = 10.0) -> AsyncIterator[str]:
    """The app on a real uvicorn server on loopback (streams need one); yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + start_s
    while not server.started:
        assert not task.done(), "uvicorn exited during start-up"
        assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, start_s)
