"""The chip file: a chip hung on a bib names that bib's participant, and nothing else."""

from __future__ import annotations

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import ParticipantIn
from app.domain.errors import NotFound
from app.services.chip_files import import_chip_file


@pytest.fixture
async def event(pool: AsyncConnectionPool) -> tuple[int, int]:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "chip-timing", "Chip Timing")
        event = await catalog.create_event(conn, tenant_id=tenant.id, name="Chip 10K")
        await catalog.upsert_participants(
            conn,
            tenant.id,
            event.id,
            [
                ParticipantIn("42", "", "Ann", "Lee"),
                ParticipantIn("43", "7007", "Omar", "Khan"),
            ],
        )
    return tenant.id, event.id


async def test_a_chip_file_names_the_participant_wearing_the_bib(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    tenant_id, event_id = event
    report = await import_chip_file(
        pool,
        tenant_id,
        event_id,
        ["Chip,Bib\n", "009573,42\n", "7007,42\n", "8888,99\n", "1234\n"],
    )
    assert report.imported == 3
    assert [(e.row, e.reason) for e in report.errors] == [(5, "expected a chip and a bib")]
    async with pool.connection() as conn:
        found = await catalog.participants_by_chip(
            conn, tenant_id, event_id, ["9573", "7007", "8888", "5555"]
        )
        chips = await timing.event_chip_codes(conn, event_id)
    # Read as 9573 or 009573 alike (chips are stored normalised).
    assert found["9573"].full_name == "Ann Lee"
    # A chip the participant registered with wins over the chip file.
    assert found["7007"].full_name == "Omar Khan"
    # Bib 99 has no participant, 5555 is in no file: both stay unknown, never named.
    assert set(found) == {"9573", "7007"}
    assert chips == {"9573", "7007"}


async def test_importing_again_moves_a_chip_and_a_foreign_event_is_not_found(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    tenant_id, event_id = event
    await import_chip_file(pool, tenant_id, event_id, ["9573,42\n"])
    await import_chip_file(pool, tenant_id, event_id, ["9573,43\n"])
    async with pool.connection() as conn:
        found = await catalog.participants_by_chip(conn, tenant_id, event_id, ["9573"])
        other = await catalog.create_tenant(conn, "other-timing", "Other Timing")
    assert found["9573"].full_name == "Omar Khan"
    with pytest.raises(NotFound):
        await import_chip_file(pool, other.id, event_id, ["1,1\n"])
