"""What the public spectator page reads: participants by bib or name, and one runner's reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from app.db.queries import fetch_all, fetch_one, q
from app.domain.reads import EXACT


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    bib: str
    first_name: str
    last_name: str
    city: str
    sub_event: str


@dataclass(frozen=True, slots=True)
class Runner:
    id: int
    bib: str
    first_name: str
    last_name: str
    gender: str
    city: str
    team: str
    sub_event: str
    vip: bool
    status: str
    chips: list[str]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    conn: AsyncConnection, tenant_id: int, event_id: int, text: str, limit: int = 20
) -> list[Found]:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "q": text,
        "pattern": _like(text),
        "limit": limit,
    }
    return await fetch_all(conn, Found, "spectator_search", params)


async def runner(
    conn: AsyncConnection, tenant_id: int, event_id: int, participant_id: int
) -> Runner | None:
    params = {"tenant_id": tenant_id, "event_id": event_id, "participant_id": participant_id}
    found: Runner | None = await fetch_one(conn, Runner, "spectator_participant", params)
    return found


async def reads_of(
    conn: AsyncConnection, tenant_id: int, event_id: int, chips: list[str], tag_mode: str
) -> list[tuple[str, datetime]]:
    """(location, read time) of every read of those chips, oldest first."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "chips": chips,
        "exact": tag_mode == EXACT,
    }
    cur = await conn.execute(q("spectator_reads"), params)
    return [(location, at) for location, at in await cur.fetchall()]
