"""Shared by the event, session-rule and admin-session tests: tenants, logins and providers."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import Event
from app.services.auth import hash_password

PASSWORD = "correct horse battery staple"
Client = AsyncTestClient[Litestar]
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


async def scalar(pool: AsyncConnectionPool, sql: str, *params: Any) -> Any:
    async with pool.connection() as conn:
        row = await (await conn.execute(sql, params)).fetchone()
        return None if row is None else row[0]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


class Provider:
    """A hand-driven CTP01 provider (SimpleClient as a timer would set it up)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.starts: list[str] = []

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        connection_id: str,
        ct_event_id: str = "",
        locations: tuple[str, ...] = ("FINISH",),
    ) -> Provider:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        p = cls(reader, writer)
        p.send("SimpleClient~3.0~CTP01")
        header = await p.line()
        for _ in range(int(header.split("~")[2])):
            await p.line()
        answers = {
            "getconnectionid": f"ack~getconnectionid~{connection_id}",
            "geteventinfo": f"ack~geteventinfo~Race~{ct_event_id}~",
            "getlocations": "ack~getlocations~" + "~".join(locations),
        }
        while not (command := await p.line()).startswith("start"):
            p.send(answers[command])
        p.starts = [command]
        while command != "start" and len(p.starts) < len(locations):
            command = await p.line()
            p.starts.append(command)
        return p

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def line(self) -> str:
        return (await asyncio.wait_for(self.reader.readline(), 10)).decode().strip()

    async def round_trip(self) -> None:
        """A ping answered means every line sent before it has been handled."""
        self.send("ping")
        while await self.line() != "ack~ping":
            pass

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

    def close(self) -> None:
        self.writer.close()
