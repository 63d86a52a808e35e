"""Participant files into PostgreSQL: valid rows land, bad rows are reported, re-imports update
in place by source id else bib, and a check or a failure changes nothing."""

from __future__ import annotations

import csv
import io
import tracemalloc
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.errors import Conflict, InvalidInput
from app.services import participant_imports as imports
from tests.unit.test_participant_import import big_file


@pytest.fixture
async def event(pool: AsyncConnectionPool) -> tuple[int, int]:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "import-timing", "Import Timing")
        event = await catalog.create_event(conn, tenant_id=tenant.id, name="Import 10K")
    return tenant.id, event.id


async def run(
    pool: AsyncConnectionPool,
    event: tuple[int, int],
    text: str | bytes,
    *,
    filename: str = "people.csv",
    mapping: dict[str, str] | None = None,
    removal: str = "keep",
    dry_run: bool = False,
) -> imports.Upload:
    tenant_id, event_id = event
    data = text.encode() if isinstance(text, str) else text
    upload = await imports.create_upload(
        pool, tenant_id, event_id, user_id=None, filename=filename, data=data
    )
    await imports.start_import(
        pool,
        tenant_id,
        event_id,
        upload.id,
        format=upload.format,
        mapping=upload.mapping if mapping is None else mapping,
        removal=removal,
        dry_run=dry_run,
    )
    return await imports.run_import(pool, tenant_id, event_id, upload.id)


async def stored(pool: AsyncConnectionPool, event_id: int) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT p.bib, p.source_id, p.first_name, p.gender, p.age, p.sub_event, p.status,"
            " coalesce((SELECT array_agg(c.chip_code ORDER BY c.chip_code)"
            "   FROM participant_chips c WHERE c.participant_id = p.id), '{}')"
            " FROM participants p WHERE p.event_id = %s ORDER BY p.bib",
            (event_id,),
        )
        return await cur.fetchall()


def counts(upload: imports.Upload) -> dict[str, int]:
    assert upload.state == "done", upload.message
    assert upload.counts is not None
    return upload.counts


FILE = (
    "Registration ID,Bib,Chip,First Name,Gender,Age,Event\n"
    "r1,1,009573,Ana,F,30,10K\n"
    "r2,2,7007,Bo,M,41,5K\n"
    "r3,3,,Cy,X,25,10K\n"
)


async def test_import_then_reimport_changes_nothing(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    first = await run(pool, event, FILE)
    assert counts(first) == {"added": 3, "updated": 0, "unchanged": 0, "missing": 0, "errors": 0}
    assert await stored(pool, event[1]) == [
        ("1", "r1", "Ana", "F", 30, "10K", "registered", ["9573"]),
        ("2", "r2", "Bo", "M", 41, "5K", "registered", ["7007"]),
        ("3", "r3", "Cy", "X", 25, "10K", "registered", []),
    ]
    again = await run(pool, event, FILE)
    assert counts(again) == {"added": 0, "updated": 0, "unchanged": 3, "missing": 0, "errors": 0}


async def test_changes_additions_and_missing_rows(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    await run(pool, event, FILE)
    changed = (
        "Registration ID,Bib,Chip,First Name,Gender,Age,Event\n"
        "r1,1,009573,Ana,F,31,10K\n"  # age changed
        "r3,33,,Cy,X,25,10K\n"  # bib changed, same registration
        "r4,4,8000,Di,F,50,5K\n"  # new
    )
    kept = await run(pool, event, changed)
    assert counts(kept) == {"added": 1, "updated": 2, "unchanged": 0, "missing": 1, "errors": 0}
    # Bo is not in the file: kept unless the timer says the file is the whole list.
    assert [r[0] for r in await stored(pool, event[1])] == ["1", "2", "33", "4"]
    deleted = await run(pool, event, changed, removal="delete")
    assert counts(deleted) == {"added": 0, "updated": 0, "unchanged": 3, "missing": 1, "errors": 0}
    assert [r[0] for r in await stored(pool, event[1])] == ["1", "33", "4"]


async def test_file_without_ids_matches_by_bib_and_leaves_unmapped_fields(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    await run(pool, event, FILE)
    upload = await run(pool, event, "Bib,First Name\n1,Anna\n2,Bo\n")
    assert counts(upload) == {"added": 0, "updated": 1, "unchanged": 1, "missing": 1, "errors": 0}
    # No chip, gender or age column: the stored ones stay, and so do the registration ids.
    assert (await stored(pool, event[1]))[:2] == [
        ("1", "r1", "Anna", "F", 30, "10K", "registered", ["9573"]),
        ("2", "r2", "Bo", "M", 41, "5K", "registered", ["7007"]),
    ]


async def test_bib_swap_between_two_registrations(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    await run(pool, event, FILE)
    swapped = FILE.replace("r1,1,", "r1,2,").replace("r2,2,", "r2,1,")
    upload = await run(pool, event, swapped)
    assert counts(upload)["updated"] == 2
    rows = await stored(pool, event[1])
    assert [(r[0], r[1], r[7]) for r in rows] == [
        ("1", "r2", ["7007"]),
        ("2", "r1", ["9573"]),
        ("3", "r3", []),
    ]


async def test_a_bib_worn_by_someone_kept_is_a_row_error_not_a_failure(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    await run(pool, event, FILE)
    clash = "Registration ID,Bib,First Name\nr9,2,Zed\nr10,10,Eve\n"
    upload = await run(pool, event, clash)
    assert counts(upload) == {"added": 1, "updated": 0, "unchanged": 0, "missing": 3, "errors": 1}
    tenant_id, event_id = event
    _, report = await imports.error_report(pool, tenant_id, event_id, upload.id)
    assert list(csv.reader(io.StringIO(report)))[1][:3] == [
        "2",
        "2",
        "bib 2 is already worn by Bo (registration r2)",
    ]
    assert [r[:3] for r in await stored(pool, event_id)] == [
        ("1", "r1", "Ana"),
        ("10", "r10", "Eve"),
        ("2", "r2", "Bo"),
        ("3", "r3", "Cy"),
    ]


async def test_bad_rows_are_reported_and_never_count_as_missing(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    await run(pool, event, FILE)
    broken = FILE.replace("r2,2,7007,Bo,M,41", "r2,2,7007,Bo,M,410")
    upload = await run(pool, event, broken, removal="delete")
    assert counts(upload) == {"added": 0, "updated": 0, "unchanged": 2, "missing": 0, "errors": 1}
    assert [r[0] for r in await stored(pool, event[1])] == ["1", "2", "3"]


async def test_a_check_reports_counts_and_changes_nothing(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    upload = await run(pool, event, FILE, dry_run=True)
    assert counts(upload)["added"] == 3
    assert await stored(pool, event[1]) == []


async def test_mapping_is_remembered_per_tenant_and_format(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    text = "Num,Given,Family,Tee\n5,Ana,Ríos,M\n"
    tenant_id, event_id = event
    first = await imports.create_upload(
        pool, tenant_id, event_id, user_id=None, filename="a.csv", data=text.encode()
    )
    assert "bib" not in first.mapping  # nothing in "Num" says bib
    with pytest.raises(InvalidInput, match="bib"):
        await imports.start_import(
            pool,
            tenant_id,
            event_id,
            first.id,
            format="generic",
            mapping=first.mapping,
            removal="keep",
            dry_run=False,
        )
    fixed = {"bib": "Num", "first_name": "Given", "last_name": "Family"}
    done = await run(pool, event, text, mapping=fixed)
    assert counts(done)["added"] == 1
    second = await imports.create_upload(
        pool, tenant_id, event_id, user_id=None, filename="b.csv", data=text.encode()
    )
    assert second.mapping == fixed


async def test_a_second_start_while_running_is_refused(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    tenant_id, event_id = event
    upload = await imports.create_upload(
        pool, tenant_id, event_id, user_id=None, filename="a.csv", data=FILE.encode()
    )
    args: dict[str, Any] = {
        "format": upload.format,
        "mapping": upload.mapping,
        "removal": "keep",
        "dry_run": False,
    }
    await imports.start_import(pool, tenant_id, event_id, upload.id, **args)
    with pytest.raises(Conflict):
        await imports.start_import(pool, tenant_id, event_id, upload.id, **args)


async def test_xlsx_and_windows_csv_import_alike(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Bib", "First Name", "Last Name", "Age"])
    sheet.append([7, "José", "Núñez", 44])
    out = io.BytesIO()
    book.save(out)
    upload = await run(pool, event, out.getvalue(), filename="people.xlsx")
    assert counts(upload)["added"] == 1
    latin = "Bib,First Name,Last Name,Age\n7,José,Núñez,44\n".encode("cp1252")
    again = await run(pool, event, latin)
    assert counts(again) == {"added": 0, "updated": 0, "unchanged": 1, "missing": 0, "errors": 0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"PK\x03\x04not really a zip", "XLSX"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    ],
)
async def test_unusable_files_are_refused_plainly(
    pool: AsyncConnectionPool, event: tuple[int, int], data: bytes, message: str
) -> None:
    tenant_id, event_id = event
    with pytest.raises(InvalidInput, match=message):
        await imports.create_upload(
            pool, tenant_id, event_id, user_id=None, filename="x.csv", data=data
        )


async def test_fifty_thousand_rows_with_one_percent_bad(
    pool: AsyncConnectionPool, event: tuple[int, int]
) -> None:
    expected: list[tuple[int, str]] = []
    text = "".join(big_file(50_000, expected))
    tracemalloc.start()
    try:
        upload = await run(pool, event, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts(upload) == {
        "added": 49_500,
        "updated": 0,
        "unchanged": 0,
        "missing": 0,
        "errors": 500,
    }
    tenant_id, event_id = event
    _, report = await imports.error_report(pool, tenant_id, event_id, upload.id)
    reported = list(csv.reader(io.StringIO(report)))[1:]
    assert [int(r[0]) for r in reported] == [line for line, _ in expected]
    async with pool.connection() as conn:
        assert await catalog.count_participants(conn, tenant_id, event_id) == 49_500
    # The file (about 4 MB), its text and the report; rows themselves stream into COPY.
    print(f"tracemalloc peak {peak / 1e6:.1f} MB")
    assert peak < 48 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    again = await run(pool, event, text)
    assert counts(again)["unchanged"] == 49_500
    assert counts(again)["added"] == counts(again)["updated"] == 0
