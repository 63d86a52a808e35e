"""What the announcer view reads: the event's recent athlete reads, normalised."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from app.db.queries import q
from app.domain.reads import CONTROL_TAGS, EXACT


async def recent_reads(
    conn: AsyncConnection, tenant_id: int, event_id: int, tag_mode: str, hours: int
) -> list[tuple[str, str, datetime]]:
    """(location, normalised chip, read time) of the reads in the last `hours` hours before the
    event's newest read, in no particular order."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "exact": tag_mode == EXACT,
        "hours": hours,
        "control_tags": sorted(CONTROL_TAGS),
    }
    cur = await conn.execute(q("announcer_reads"), params)
    return [(location, chip, at) for location, chip, at in await cur.fetchall()]


async def reads_after(
    conn: AsyncConnection, tenant_id: int, event_id: int, tag_mode: str, after: int
) -> list[tuple[str, str, datetime]]:
    """(location, normalised chip, read time) of the reads stored after read id `after`."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "exact": tag_mode == EXACT,
        "after": after,
        "control_tags": sorted(CONTROL_TAGS),
    }
    cur = await conn.execute(q("announcer_reads_after"), params)
    return [(location, chip, at) for location, chip, at in await cur.fetchall()]


async def reads_version(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> tuple[tuple[int, ...], int]:
    """A value that changes whenever recent_reads would: the event's sessions that count, and
    the newest read id among them."""
    params = {"tenant_id": tenant_id, "event_id": event_id}
    cur = await conn.execute(q("announcer_reads_version"), params)
    row = await cur.fetchone()
    return (tuple(row[0]), int(row[1])) if row else ((), 0)
