"""The async connection pool, opened at start-up and waited for; driver errors translated here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.domain.errors import Unavailable

# The names other layers use, so that only this package imports psycopg and psycopg_pool.
Pool = AsyncConnectionPool
Connection = AsyncConnection

# The role tenant work runs as (sql/migrations/0006_row_level_security.sql): row-level
# security policies apply to it, keyed on the transaction's racedisplay.tenant_id setting.
APP_ROLE = "racedisplay_app"


async def open_pool(
    conninfo: str, min_size: int = 2, max_size: int = 10, *, wait: bool = True
) -> AsyncConnectionPool:
    """wait=False returns at once even if the server is down (the collector spools meanwhile)."""
    pool = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        # A connection that died with the server is noticed at checkout, not mid-request.
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True},
    )
    await pool.open(wait=wait, timeout=30)
    return pool


@asynccontextmanager
async def connection(
    pool: AsyncConnectionPool, wait: float | None = None
) -> AsyncIterator[AsyncConnection]:
    """Borrow a connection for one unit of work; database outages become Unavailable.

    wait bounds the wait for a connection (default: the pool's 30 s); the collector
    uses a short one so an outage is noticed in a second and its reads go to the spool.
    """
    try:
        async with pool.connection(wait) as conn:
            yield conn
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise Unavailable("the database cannot be reached") from exc


@asynccontextmanager
async def tenant_connection(
    pool: AsyncConnectionPool, tenant_id: int, wait: float | None = None
) -> AsyncIterator[AsyncConnection]:
    """A connection for one tenant's work, in one transaction, as the app role.

    Queries still name their tenant; this is defence in depth. PostgreSQL's row-level
    security shows the transaction only this tenant's rows, so a query that forgets its
    WHERE still cannot read or write another tenant's.
    """
    async with connection(pool, wait) as conn, conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
        await conn.execute(
            "SELECT set_config('racedisplay.tenant_id', %s, true)", (str(int(tenant_id)),)
        )
        yield conn
