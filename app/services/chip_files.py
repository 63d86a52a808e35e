"""Importing a timer's chip file into an event: valid lines land, bad ones are reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.db import catalog
from app.db.pool import Pool, tenant_connection
from app.domain.chip_file import read_chip_file
from app.domain.errors import NotFound
from app.domain.participants_in import RowError

# Pairs written per statement batch: a file of any size streams through in bounded memory.
_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class ChipFileReport:
    imported: int
    errors: tuple[RowError, ...]


async def import_chip_file(
    pool: Pool, tenant_id: int, event_id: int, lines: Iterable[str]
) -> ChipFileReport:
    """All valid pairs of the file in one transaction (a broken upload changes nothing)."""
    imported, errors = 0, []
    async with tenant_connection(pool, tenant_id) as conn:
        # Held until commit: the event's tag mode cannot change under the chips written here.
        tag_mode = await catalog.lock_event_tag_mode(conn, tenant_id, event_id)
        if tag_mode is None:
            raise NotFound("No such event.")
        batch: list[tuple[str, str]] = []
        for item in read_chip_file(lines, tag_mode):
            if isinstance(item, RowError):
                errors.append(item)
                continue
            batch.append((item.chip_code, item.bib))
            if len(batch) >= _BATCH:
                await catalog.upsert_chip_bibs(conn, tenant_id, event_id, batch)
                imported, batch = imported + len(batch), []
        await catalog.upsert_chip_bibs(conn, tenant_id, event_id, batch)
        imported += len(batch)
    return ChipFileReport(imported, tuple(errors))
