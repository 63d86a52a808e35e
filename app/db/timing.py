"""Timing sessions, locations and reads: the collector's side of the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection, errors
from psycopg.rows import class_row

from app.db.queries import fetch_all, q
from app.domain.reads import GUN_TAG, NewRead, NewReject, StoredRead


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    session_name: str
    tenant_id: int | None
    event_id: int | None


async def open_session(
    conn: AsyncConnection,
    *,
    provider_identity: str,
    session_name: str,
    provider_program: str,
    provider_version: str,
) -> SessionRow:
    """The active session of this provider identity, created on first sight."""
    async with conn.cursor(row_factory=class_row(SessionRow)) as cur:
        await cur.execute(q("find_active_session"), {"provider_identity": provider_identity})
        row = await cur.fetchone()
        if row is not None:
            return row
        await cur.execute(
            q("create_session"),
            {
                "provider_identity": provider_identity,
                "session_name": session_name,
                "provider_program": provider_program,
                "provider_version": provider_version,
            },
        )
        created = await cur.fetchone()
        assert created is not None
        return created


async def claim_session(
    conn: AsyncConnection, session_id: int, ct_event_id: str, ct_event_name: str
) -> tuple[int | None, int | None]:
    """Record the provider's event and attach the session to the tenant event registering it."""
    cur = await conn.execute(
        q("claim_session_by_ct_event"),
        {"session_id": session_id, "ct_event_id": ct_event_id, "ct_event_name": ct_event_name},
    )
    row = await cur.fetchone()
    return (None, None) if row is None else (row[0], row[1])


async def claim_session_by_key(
    conn: AsyncConnection, session_id: int, provider_key: str
) -> tuple[int, int] | None:
    """Give an unowned session to the live event that issued provider_key; None: no change."""
    cur = await conn.execute(
        q("claim_session_by_provider_key"),
        {"session_id": session_id, "provider_key": provider_key},
    )
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


@dataclass(frozen=True, slots=True)
class SessionClaim:
    id: int
    tenant_id: int | None
    event_id: int | None
    status: str


async def session_claims(conn: AsyncConnection, session_ids: Sequence[int]) -> list[SessionClaim]:
    """Owner, event and status of the given sessions, as the collector re-reads them."""
    rows: list[SessionClaim] = await fetch_all(
        conn, SessionClaim, "session_claims", {"session_ids": list(session_ids)}
    )
    return rows


async def cleanup_old_sessions(
    conn: AsyncConnection, days_old: int, connected: Sequence[int] = ()
) -> int:
    """Ends sessions idle for days_old days and deletes archived ones; returns both counts summed.

    Sessions in connected (a provider is on them now) are touched first: they are not idle.
    """
    if connected:
        await conn.execute(q("touch_active_sessions"), {"session_ids": list(connected)})
    cur = await conn.execute(q("cleanup_old_sessions"), {"days_old": days_old})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def ensure_location(
    conn: AsyncConnection, session_id: int, location_name: str, reader_id: str | None = None
) -> int:
    cur = await conn.execute(
        q("ensure_location"),
        {"session_id": session_id, "location_name": location_name, "reader_id": reader_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def store_reads(
    conn: AsyncConnection, reads: Sequence[NewRead], *, expect_repeats: bool = False
) -> list[StoredRead]:
    """Store a batch, skipping reads already stored; returns only the new rows, in id order.

    One transaction: either the whole batch is durable or none of it is. A batch is first
    COPied straight into timing_reads; a repeat anywhere in it fails that COPY on the unique
    key, and the batch is then COPied into staging and inserted with ON CONFLICT DO NOTHING.
    With expect_repeats (the caller saw repeats lately) the batch goes to staging at once.
    Within a batch, ids follow read time.
    """
    if not reads:
        return []
    ordered = sorted(reads, key=_read_at)
    async with conn.transaction():
        if not expect_repeats:
            try:
                return await _copy_new_reads(conn, ordered)
            except errors.UniqueViolation:
                pass  # rolled back to the savepoint: take the idempotent path
        return await _insert_staged_reads(conn, ordered)


def _read_at(read: NewRead) -> datetime:
    return read.read_at


async def _copy_new_reads(conn: AsyncConnection, reads: list[NewRead]) -> list[StoredRead]:
    cur = await conn.execute(q("reserve_read_ids"), {"count": len(reads)})
    ids = [int(i) for (i,) in await cur.fetchall()]
    # In a savepoint: a repeat fails the COPY and rolls back only this.
    async with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(q("copy_new_reads")) as copy,
    ):
        for read_id, read in zip(ids, reads, strict=True):
            await copy.write_row((read_id, *read))
    last: dict[int, int] = {}
    guns: list[tuple[int, int, int, datetime]] = []
    stored: list[StoredRead] = []
    for read_id, r in zip(ids, reads, strict=True):
        if last.get(r.location_id, -1) < r.sequence_number:
            last[r.location_id] = r.sequence_number
        if r.tag_code.lower() == GUN_TAG:
            guns.append((r.session_id, r.location_id, read_id, r.read_at))
        stored.append(
            StoredRead(
                read_id,
                r.session_id,
                r.location_name,
                r.tag_code,
                r.read_at,
                r.sequence_number,
                r.lap_count,
            )
        )
    gun_columns = list(zip(*guns, strict=True)) or [(), (), (), ()]
    await conn.execute(
        q("record_copied_reads"),
        {
            "gun_session_ids": list(gun_columns[0]),
            "gun_location_ids": list(gun_columns[1]),
            "gun_read_ids": list(gun_columns[2]),
            "gun_times": list(gun_columns[3]),
            "location_ids": list(last),
            "last_sequences": list(last.values()),
        },
    )
    return stored


async def _insert_staged_reads(conn: AsyncConnection, reads: list[NewRead]) -> list[StoredRead]:
    await conn.execute(q("create_read_staging"))
    async with conn.cursor() as cur, cur.copy(q("copy_read_staging")) as copy:
        for read in reads:
            await copy.write_row(read)
    async with conn.cursor(row_factory=class_row(StoredRead)) as inserted:
        await inserted.execute(q("insert_staged_reads"))
        return await inserted.fetchall()


async def store_rejects(conn: AsyncConnection, rejects: Sequence[NewReject]) -> None:
    """Keep rejected lines with their raw bytes; idempotent on each reject's key."""
    if not rejects:
        return
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(q("insert_reject"), rejects)


async def count_rejects(conn: AsyncConnection) -> int:
    cur = await conn.execute(q("count_rejects"))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def resume_points(conn: AsyncConnection, session_id: int) -> dict[str, int]:
    """Location name → highest seq durably stored for the session."""
    cur = await conn.execute(q("resume_points"), {"session_id": session_id})
    return {name: int(seq) for name, seq in await cur.fetchall()}


async def event_tag_mode(conn: AsyncConnection, event_id: int) -> str | None:
    """How the event normalises chip codes (app.domain.reads.TAG_MODES); None: no such event."""
    cur = await conn.execute(q("event_tag_mode"), {"event_id": event_id})
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def event_chip_codes(conn: AsyncConnection, event_id: int) -> set[str]:
    """The chip codes of an event's participants, normalised under the event's tag mode."""
    cur = await conn.execute(q("event_chip_codes"), {"event_id": event_id})
    return {code for (code,) in await cur.fetchall()}


async def count_reads(conn: AsyncConnection) -> int:
    cur = await conn.execute(q("count_reads"))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class SessionStats:
    id: int
    session_name: str
    provider_identity: str
    status: str
    total_reads: int
    unique_tags: int
    total_locations: int
    first_read: datetime | None
    last_read: datetime | None
    display_name: str = ""
    event_id: int | None = None
    ct_event_id: str | None = None

    @property
    def label(self) -> str:
        """What a tenant calls the session: its display name, else the collector's name."""
        return self.display_name or self.session_name


async def event_reads_after(
    conn: AsyncConnection, tenant_id: int, event_id: int, after_id: int, limit: int = 1000
) -> list[StoredRead]:
    """Reads of the event's sessions committed after after_id, oldest first."""
    params = {"tenant_id": tenant_id, "event_id": event_id, "after_id": after_id, "limit": limit}
    rows: list[StoredRead] = await fetch_all(conn, StoredRead, "session_reads_after", params)
    return rows


async def latest_event_reads(
    conn: AsyncConnection, tenant_id: int, event_id: int, limit: int
) -> list[StoredRead]:
    """The newest reads of the event's sessions, oldest first."""
    params = {"tenant_id": tenant_id, "event_id": event_id, "limit": limit}
    rows: list[StoredRead] = await fetch_all(conn, StoredRead, "latest_event_reads", params)
    rows.reverse()
    return rows


async def session_stats_for_event(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> list[SessionStats]:
    params = {"tenant_id": tenant_id, "event_id": event_id}
    name = "session_stats_for_event"
    rows: list[SessionStats] = await fetch_all(conn, SessionStats, name, params)
    return rows


async def latest_gun_time(conn: AsyncConnection, tenant_id: int, event_id: int) -> datetime | None:
    """The newest gun start of the event's sessions (from their guntime reads)."""
    cur = await conn.execute(
        q("latest_event_gun_time"), {"tenant_id": tenant_id, "event_id": event_id}
    )
    row = await cur.fetchone()
    gun: datetime | None = None if row is None else row[0]
    return gun
