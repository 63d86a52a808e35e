"""A tenant's timing sessions (and, for platform admins, the unclaimed ones); all tenant-scoped."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from app.db.queries import fetch_all, q
from app.db.timing import SessionStats


async def _rows(conn: AsyncConnection, name: str, params: dict[str, Any]) -> list[SessionStats]:
    rows: list[SessionStats] = await fetch_all(conn, SessionStats, name, params)
    return rows


async def _changed(conn: AsyncConnection, name: str, params: dict[str, Any]) -> bool:
    cur = await conn.execute(q(name), params)
    return await cur.fetchone() is not None


async def get_session(
    conn: AsyncConnection, tenant_id: int, session_id: int
) -> SessionStats | None:
    rows = await _rows(
        conn, "get_tenant_session", {"tenant_id": tenant_id, "session_id": session_id}
    )
    return rows[0] if rows else None


async def detached_sessions(conn: AsyncConnection, tenant_id: int) -> list[SessionStats]:
    return await _rows(conn, "detached_sessions", {"tenant_id": tenant_id})


async def move_session(
    conn: AsyncConnection, tenant_id: int, session_id: int, event_id: int
) -> bool:
    """False when the session or the (live) event is not the tenant's."""
    params = {"tenant_id": tenant_id, "session_id": session_id, "event_id": event_id}
    return await _changed(conn, "move_session", params)


async def detach_session(conn: AsyncConnection, tenant_id: int, session_id: int) -> bool:
    return await _changed(
        conn, "detach_session", {"tenant_id": tenant_id, "session_id": session_id}
    )


async def rename_session(
    conn: AsyncConnection, tenant_id: int, session_id: int, display_name: str
) -> bool:
    params = {"tenant_id": tenant_id, "session_id": session_id, "display_name": display_name}
    return await _changed(conn, "rename_session", params)


async def end_session(conn: AsyncConnection, tenant_id: int, session_id: int) -> bool:
    """False also for an archived session, which stays archived."""
    return await _changed(conn, "end_session", {"tenant_id": tenant_id, "session_id": session_id})


async def archive_session(conn: AsyncConnection, tenant_id: int, session_id: int) -> bool:
    params = {"tenant_id": tenant_id, "session_id": session_id}
    return await _changed(conn, "archive_session", params)


# -- platform admins: across tenants, for sessions no rule has claimed ----------------------


async def unclaimed_sessions(conn: AsyncConnection, limit: int = 500) -> list[SessionStats]:
    return await _rows(conn, "unclaimed_sessions", {"limit": limit})


async def assign_unclaimed_session(
    conn: AsyncConnection, session_id: int, event_id: int
) -> tuple[int, int] | None:
    """(tenant, event) the session now belongs to; None if it is owned or the event is not live."""
    cur = await conn.execute(
        q("assign_unclaimed_session"), {"session_id": session_id, "event_id": event_id}
    )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


async def live_event_label(conn: AsyncConnection, event_id: int) -> tuple[str, str] | None:
    """(event name, tenant name) of a live event of any tenant."""
    cur = await conn.execute(q("get_live_event_any_tenant"), {"event_id": event_id})
    row = await cur.fetchone()
    return None if row is None else (str(row[1]), str(row[2]))
