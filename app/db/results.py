"""What results are computed from: one event's start/finish reads, guns, participants, chips."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection
from psycopg.rows import class_row

from app.db.queries import fetch_all, q
from app.domain.reads import CONTROL_TAGS
from app.domain.results import Entrant, GunStart, TimingRead


@dataclass(frozen=True, slots=True)
class ResultsInput:
    reads: list[TimingRead]
    guns: list[GunStart]
    entrants: list[Entrant]
    chip_bibs: dict[str, str]


async def results_input(conn: AsyncConnection, tenant_id: int, event_id: int) -> ResultsInput:
    """Everything compute_results needs of one event, read in the caller's transaction."""
    scope = {"tenant_id": tenant_id, "event_id": event_id}
    reads: list[TimingRead] = await fetch_all(
        conn,
        TimingRead,
        "results_event_reads",
        {**scope, "control_tags": sorted(CONTROL_TAGS)},
    )
    guns: list[GunStart] = await fetch_all(conn, GunStart, "results_event_guns", scope)
    async with conn.cursor(row_factory=class_row(_EntrantRow)) as cur:
        await cur.execute(q("results_event_entrants"), scope)
        rows = await cur.fetchall()
    cur2 = await conn.execute(q("results_event_chip_bibs"), scope)
    chip_bibs = {str(chip): str(bib) for chip, bib in await cur2.fetchall()}
    return ResultsInput(reads, guns, [r.entrant() for r in rows], chip_bibs)


@dataclass(frozen=True, slots=True)
class _EntrantRow:
    id: int
    bib: str
    first_name: str
    last_name: str
    gender: str
    age: int | None
    birth_date: date | None
    city: str
    state: str
    country: str
    sub_event: str
    status: str
    source_id: str
    chips: list[str]

    def entrant(self) -> Entrant:
        return Entrant(
            id=self.id,
            bib=self.bib,
            first_name=self.first_name,
            last_name=self.last_name,
            gender=self.gender,
            age=self.age,
            birth_date=self.birth_date,
            city=self.city,
            state=self.state,
            country=self.country,
            sub_event=self.sub_event,
            status=self.status,
            source_id=self.source_id,
            chips=tuple(self.chips),
        )
