"""Failed sign-ins per account and per address, for throttling across worker processes."""

from __future__ import annotations

import math

from psycopg import AsyncConnection

from app.db.queries import q


async def record(conn: AsyncConnection, *, email: str, ip: str) -> None:
    await conn.execute(q("record_login_failure"), {"email": email, "ip": ip})


async def _wait_s(conn: AsyncConnection, query: str, key: str, limit: int, window_s: int) -> int:
    cur = await conn.execute(q(query), {"key": key, "limit": limit, "window_s": window_s})
    row = await cur.fetchone()
    if row is None or row[0] < limit or row[1] is None:
        return 0
    return max(1, math.ceil(float(row[1].total_seconds())))


async def email_wait_s(conn: AsyncConnection, email: str, *, limit: int, window_s: int) -> int:
    """Seconds until this account may try again; 0 while it is under the limit."""
    return await _wait_s(conn, "login_throttle_for_email", email, limit, window_s)


async def ip_wait_s(conn: AsyncConnection, ip: str, *, limit: int, window_s: int) -> int:
    """Seconds until this address may try again; 0 while it is under the limit."""
    return await _wait_s(conn, "login_throttle_for_ip", ip, limit, window_s)


async def clear_for_email(conn: AsyncConnection, email: str) -> None:
    await conn.execute(q("clear_login_failures_for_email"), {"email": email})


async def purge_older_than(conn: AsyncConnection, window_s: int) -> int:
    cur = await conn.execute(q("purge_old_login_failures"), {"window_s": window_s})
    return cur.rowcount
