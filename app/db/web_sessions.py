"""Server-side web sessions in PostgreSQL, keyed by a hash of the cookie's session id."""

from __future__ import annotations

from psycopg import AsyncConnection

from app.db.queries import q


async def get(conn: AsyncConnection, key: str, renew_for_s: int | None = None) -> bytes | None:
    """The data of a live session; renew_for_s also pushes its expiry that far out."""
    if renew_for_s:
        cur = await conn.execute(q("renew_web_session"), {"id": key, "expires_in": renew_for_s})
    else:
        cur = await conn.execute(q("get_web_session"), {"id": key})
    row = await cur.fetchone()
    return None if row is None else bytes(row[0])


async def put(conn: AsyncConnection, key: str, data: bytes, expires_in_s: int) -> None:
    await conn.execute(q("set_web_session"), {"id": key, "data": data, "expires_in": expires_in_s})


async def delete(conn: AsyncConnection, key: str) -> None:
    await conn.execute(q("delete_web_session"), {"id": key})


async def delete_all(conn: AsyncConnection) -> None:
    await conn.execute(q("delete_all_web_sessions"))


async def expires_in(conn: AsyncConnection, key: str) -> int | None:
    cur = await conn.execute(q("web_session_expires_in"), {"id": key})
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def purge_expired(conn: AsyncConnection) -> int:
    cur = await conn.execute(q("purge_expired_web_sessions"))
    return cur.rowcount
