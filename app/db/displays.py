"""A display's settings, screen PIN, code and revocation; wrong screen PINs for throttling."""

from __future__ import annotations

import math
from datetime import datetime

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.db.queries import fetch_one, q
from app.domain.catalog import Display
from app.domain.display_settings import DisplaySettings
from app.domain.errors import Conflict


def _scope(tenant_id: int, event_id: int, display_id: int) -> dict[str, object]:
    return {"tenant_id": tenant_id, "event_id": event_id, "display_id": display_id}


async def get_event_display(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int
) -> tuple[Display, datetime] | None:
    """The live display of the tenant's event, with when its code was issued; None when there
    is no such display (another tenant's, another event's, revoked)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(q("get_event_display"), _scope(tenant_id, event_id, display_id))
        row = await cur.fetchone()
    if row is None:
        return None
    issued_at: datetime = row.pop("code_issued_at")
    return Display(**row), issued_at


async def lock_event_display(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int
) -> Display | None:
    row: Display | None = await fetch_one(
        conn, Display, "lock_event_display", _scope(tenant_id, event_id, display_id)
    )
    return row


async def update_settings(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int, s: DisplaySettings
) -> Display | None:
    params = {
        **_scope(tenant_id, event_id, display_id),
        "name": s.name,
        "locations": list(s.locations),
        "display_duration": s.display_duration,
        "transition": s.transition,
        "duplicate_window": s.duplicate_window,
        "reorder_window": s.reorder_window,
        "max_per_second": s.max_per_second,
        "group_runners": s.group_runners,
        "vips_first": s.vips_first,
        "show_repeats": s.show_repeats,
        "show_unknown": s.show_unknown,
    }
    row: Display | None = await fetch_one(conn, Display, "update_display_settings", params)
    return row


async def set_pin_hash(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int, pin_hash: str | None
) -> Display | None:
    """pin_hash None clears the PIN."""
    params = {**_scope(tenant_id, event_id, display_id), "pin_hash": pin_hash}
    row: Display | None = await fetch_one(conn, Display, "set_display_pin_hash", params)
    return row


async def set_code(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int, code: str
) -> Display | None:
    """Conflict when another display holds the code (draw another one)."""
    params = {**_scope(tenant_id, event_id, display_id), "code": code}
    try:
        row: Display | None = await fetch_one(conn, Display, "set_display_code", params)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("that display code is taken; try again") from exc
    return row


async def revoke(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int
) -> Display | None:
    row: Display | None = await fetch_one(
        conn, Display, "revoke_display", _scope(tenant_id, event_id, display_id)
    )
    return row


async def pin_hash(conn: AsyncConnection, display_id: int) -> str | None:
    """The screen PIN's hash of a live display; None when it has none (or is revoked)."""
    cur = await conn.execute(q("get_display_pin_hash"), {"display_id": display_id})
    row = await cur.fetchone()
    return None if row is None else row[0]


async def record_pin_failure(conn: AsyncConnection, display_id: int, ip: str) -> None:
    await conn.execute(q("record_display_pin_failure"), {"display_id": display_id, "ip": ip})


async def _wait_s(conn: AsyncConnection, query: str, key: object, limit: int, window_s: int) -> int:
    cur = await conn.execute(q(query), {"key": key, "limit": limit, "window_s": window_s})
    row = await cur.fetchone()
    if row is None or row[0] < limit or row[1] is None:
        return 0
    return max(1, math.ceil(float(row[1].total_seconds())))


async def pin_wait_s(
    conn: AsyncConnection,
    display_id: int,
    ip: str,
    *,
    per_address: int,
    per_display: int,
    window_s: int,
) -> int:
    """Seconds until a PIN may be tried again from this address on this display; 0: now."""
    return max(
        await _wait_s(conn, "display_pin_throttle_for_ip", ip, per_address, window_s),
        await _wait_s(conn, "display_pin_throttle_for_display", display_id, per_display, window_s),
    )


async def purge_pin_failures(conn: AsyncConnection, window_s: int) -> int:
    cur = await conn.execute(q("purge_old_display_pin_failures"), {"window_s": window_s})
    return cur.rowcount
