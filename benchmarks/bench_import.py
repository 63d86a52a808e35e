"""Participant import: a 50,000-row CSV end to end, against a naive importer and COPY.

In one run, on one embedded (or DATABASE_URL) PostgreSQL, each path into a fresh event:

1. the real import (`app.services.participant_imports`): `create_upload`, then `start_import`
   and `run_import`, of a 50,000-row CSV with 1% bad rows (the generator of
   `tests/unit/test_participant_import.py`): 49,500 land, 500 are reported;
2. a re-import of the same file into the same event (every row unchanged);
3. the same 49,500 valid rows COPYed straight into `participants` (the raw COPY ceiling:
   no matching, no validation, no chips);
4. the same rows through a naive importer: one INSERT and one commit per row;
5. the process's peak RSS before and after the import, and tracemalloc's peak during a
   separate import run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import report  # noqa: E402
from databases import database_server, database_url  # noqa: E402

from app.db import catalog  # noqa: E402
from app.db.pool import open_pool  # noqa: E402
from app.domain.participant_import import (  # noqa: E402
    ImportRow,
    Upload,
    detect_format,
    guess_mapping,
    read_header,
    read_rows,
    source_for,
)
from app.domain.upload_files import MAX_UPLOAD_BYTES  # noqa: E402
from app.services import participant_imports as imports  # noqa: E402
from tests.unit.test_participant_import import big_file  # noqa: E402  (the tests' own file)

DOC = report.DOC
ROWS = 50_000
BAD = ROWS // 100
VALID = ROWS - BAD
FILENAME = "participants-50k.csv"
# The issue asks for "50,000 rows import in seconds"; stated here as ≤ 10 s on the 2-core
# machine, upload and import together (stated, not asserted).
TARGET_S = 10.0
# The naive importer commits every row when a probe on its first PROBE_ROWS rows says the
# whole file takes at most NAIVE_BUDGET_S seconds that way; else it commits every
# FALLBACK_COMMIT_EVERY rows (and the section says so).
PROBE_ROWS = 1_000
NAIVE_BUDGET_S = 120.0
FALLBACK_COMMIT_EVERY = 1_000
# tracemalloc is also taken on a smaller file, to show how the peak follows the file's size.
SMALL_ROWS = 10_000


# The columns the ceiling and the naive baseline write (the import writes more, and chips).
COLUMNS = (
    "tenant_id",
    "event_id",
    "bib",
    "first_name",
    "last_name",
    "gender",
    "age",
    "city",
    "source",
    "source_id",
)
INSERT_PARTICIPANT = (
    f"INSERT INTO participants ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
)


def file_bytes(n: int) -> bytes:
    expected: list[tuple[int, str]] = []
    data = "".join(big_file(n, expected)).encode()
    assert len(expected) == n // 100, len(expected)
    return data


@dataclass(frozen=True)
class Figure:
    what: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class ImportRun:
    """One upload + import of the file: its times and its report."""

    upload_s: float
    import_s: float
    upload: Upload
    stored: int

    @property
    def total_s(self) -> float:
        return self.upload_s + self.import_s

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.upload.counts or {})


def max_rss_mib() -> float:
    """This process's peak RSS so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def new_event(pool: AsyncConnectionPool, tenant_id: int, name: str) -> int:
    async with pool.connection() as conn:
        event = await catalog.create_event(conn, tenant_id=tenant_id, name=name)
    return event.id


async def count_participants(pool: AsyncConnectionPool, tenant_id: int, event_id: int) -> int:
    async with pool.connection() as conn:
        return await catalog.count_participants(conn, tenant_id, event_id)


async def import_file(
    pool: AsyncConnectionPool, tenant_id: int, event_id: int, data: bytes, name: str = FILENAME
) -> ImportRun:
    """The real path: create_upload, then start_import and run_import, as the web form does."""
    started = time.perf_counter()
    upload = await imports.create_upload(
        pool, tenant_id, event_id, user_id=None, filename=name, data=data
    )
    uploaded = time.perf_counter()
    await imports.start_import(
        pool,
        tenant_id,
        event_id,
        upload.id,
        format=upload.format,
        mapping=upload.mapping,
        removal="keep",
        dry_run=False,
    )
    done = await imports.run_import(pool, tenant_id, event_id, upload.id)
    finished = time.perf_counter()
    if done.state != "done":
        raise RuntimeError(f"the import ended {done.state}: {done.message}")
    stored = await count_participants(pool, tenant_id, event_id)
    return ImportRun(uploaded - started, finished - uploaded, done, stored)


def valid_rows(data: bytes, tenant_id: int, event_id: int) -> list[tuple[Any, ...]]:
    """The rows the import stores, in the ceiling's columns, read before any clock starts."""
    text = data.decode("utf-8-sig")
    header = read_header(text.partition("\n")[0])
    format = detect_format(header.names)
    mapping = guess_mapping(header.names, format)
    rows: list[tuple[Any, ...]] = []
    for item in read_rows(io.StringIO(text), mapping, source=source_for(format)):
        if isinstance(item, ImportRow):
            p = item.participant
            rows.append(
                (
                    tenant_id,
                    event_id,
                    p.bib,
                    p.first_name,
                    p.last_name,
                    p.gender,
                    p.age,
                    p.city,
                    p.source,
                    p.source_id or None,
                )
            )
    return rows


def for_event(rows: list[tuple[Any, ...]], event_id: int) -> list[tuple[Any, ...]]:
    return [(r[0], event_id, *r[2:]) for r in rows]


async def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> Figure:
    """COPY straight into participants, one transaction: no matching, no validation."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        started = time.perf_counter()
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY participants ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                await copy.write_row(row)
        await conn.commit()
        return Figure("raw COPY", len(rows), time.perf_counter() - started)


async def naive_insert(url: str, rows: list[tuple[Any, ...]], commit_every: int) -> Figure:
    """One INSERT per row (one `execute` each, no pipeline), a commit every commit_every rows."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=commit_every == 1) as conn:
        started = time.perf_counter()
        for n, row in enumerate(rows, 1):
            await conn.execute(INSERT_PARTICIPANT, row)
            if commit_every > 1 and n % commit_every == 0:
                await conn.commit()
        if commit_every > 1:
            await conn.commit()
        return Figure("naive", len(rows), time.perf_counter() - started)


async def traced_import(
    pool: AsyncConnectionPool, tenant_id: int, event_id: int, data: bytes
) -> tuple[float, ImportRun]:
    """tracemalloc's peak (bytes) over one upload + import."""
    tracemalloc.start()
    try:
        run = await import_file(pool, tenant_id, event_id, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, run


@dataclass(frozen=True)
class Memory:
    rss_before: float
    rss_after: float
    traced: dict[int, tuple[int, float]]  # rows → (file bytes, tracemalloc peak bytes)


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def render(
    first: ImportRun,
    again: ImportRun,
    raw: Figure,
    naive: Figure,
    naive_how: str,
    naive_short: str,
    memory: Memory,
    file_size: int,
    server_version: str,
) -> tuple[str, dict[str, str]]:
    stored = first.counts["added"]
    import_rate = stored / first.import_s
    total_rate = stored / first.total_s
    versus_naive = import_rate / naive.rate
    of_copy = import_rate / raw.rate
    met = first.total_s <= TARGET_S
    c1, c2 = first.counts, again.counts
    per_byte = max(peak / size for size, peak in memory.traced.values())
    at_limit = per_byte * MAX_UPLOAD_BYTES / 2**20
    traced = "; ".join(
        f"{rows:,} rows ({size / 1e6:.1f} MB file): {_mib(peak)} ({peak / size:.1f}x the file)"
        for rows, (size, peak) in sorted(memory.traced.items())
    )
    lines = [
        "## (e) Participant import: a 50,000-row CSV",
        "",
        report.provenance("make bench-import", server_version),
        "",
        f"Input: {ROWS:,} participant rows in one CSV ({file_size / 1e6:.1f} MB, UTF-8 with "
        "BOM; Registration ID, Bib, Chip, First Name, Last Name, Gender, DOB, Age, City, "
        f"Event, Shirt), {BAD} of them (1%) bad, one in every hundred: missing bib, bad birth "
        "date, unknown gender, age out of range, duplicate bib, duplicate chip, wrong field "
        "count, duplicate registration id in turn (the generator of "
        "`tests/unit/test_participant_import.py`). One fresh database; each path writes into "
        "a fresh event of it (the re-import into the first import's event). The real "
        "import is the service the upload form calls "
        "(`create_upload`, then `start_import` + `run_import`, removal `keep`), one "
        "transaction for the whole file.",
        "",
        "| path | rows stored | seconds | rows/s |",
        "|---|---:|---:|---:|",
        f"| upload: `create_upload` (decode, header, guessed mapping, file stored) "
        f"| — | {first.upload_s:.2f} | — |",
        f"| import: `start_import` + `run_import` (read, validate, COPY to a stage, match, "
        f"insert, chips, error report) | {stored:,} | {first.import_s:.2f} "
        f"| {import_rate:,.0f} |",
        f"| **upload + import, end to end** | {stored:,} | **{first.total_s:.2f}** "
        f"| {total_rate:,.0f} |",
        f"| re-import of the same file into the same event (upload + import; "
        f"{c2['unchanged']:,} unchanged) | {c2['added'] + c2['updated']:,} "
        f"| {again.total_s:.2f} | {again.counts['unchanged'] / again.total_s:,.0f} |",
        f"| raw COPY ceiling: the same {raw.rows:,} valid rows COPYed into `participants` "
        f"(10 columns, one transaction, no matching, validation or chips) | {raw.rows:,} "
        f"| {raw.seconds:.2f} | {raw.rate:,.0f} |",
        f"| naive: one INSERT per row (one `execute` each, no `executemany`){naive_how} "
        f"| {naive.rows:,} | {naive.seconds:.2f} "
        f"| {naive.rate:,.0f} |",
        "",
        f"- first import: added {c1['added']:,}, updated {c1['updated']:,}, unchanged "
        f"{c1['unchanged']:,}, missing {c1['missing']:,}, errors {c1['errors']:,} "
        f"(`error_count` {first.upload.error_count:,}); {first.stored:,} participants stored",
        f"- re-import: added {c2['added']:,}, updated {c2['updated']:,}, unchanged "
        f"{c2['unchanged']:,}, errors {c2['errors']:,}; {again.stored:,} participants stored",
        f"- import / naive: **{versus_naive:.1f}x** faster (import step alone, rows/s)",
        f"- import / raw COPY ceiling: **{of_copy:.0%}** of its rate",
        f"- peak RSS of this process (`ru_maxrss`): {memory.rss_before:.0f} MiB before the "
        f"import (file generated, database up), {memory.rss_after:.0f} MiB after it",
        f"- tracemalloc peak over upload + import, separate runs: {traced}",
        "",
        f"Target: 50,000 rows import in seconds, stated as ≤ {TARGET_S:.0f} s upload + import "
        f"on this 2-core machine: {first.total_s:.2f} s, {report.verdict(met)}.",
        "",
        "The ceiling writes fewer columns than the import (no birth date, sub-event, custom "
        "fields or raw record) and no `participant_chips` rows, so the share above is a "
        "floor. Rows stream from the CSV reader into COPY and are not all held as objects; "
        "what grows with the file is the file itself, held whole while the upload is stored "
        "(the bytes received, their text and its UTF-8 encoding) and once more while it is "
        "imported (the stored bytes, read through a decoding stream), so the Python peak "
        "follows the file's size, at about "
        f"{per_byte:.0f}x it here: about {at_limit:.0f} MiB for a file at the "
        f"{MAX_UPLOAD_BYTES // 2**20} MB upload limit. The re-import matches every row by "
        "registration id and classifies it unchanged in SQL; it writes nothing but the "
        "report. The PostgreSQL server is another process and not in "
        "these memory figures.",
    ]
    summary = {
        "e1": f"| (e) participant import, {ROWS:,} rows with 1% bad: upload + import "
        f"| {first.total_s:.2f} s | ≤ {TARGET_S:.0f} s | {report.verdict(met)} |",
        "e2": f"| (e) participant import / naive ({naive_short}) "
        f"| {versus_naive:.1f}x | ratio, no target | — |",
        "e3": f"| (e) participant import / raw COPY ceiling | {of_copy:.0%} "
        "| ratio, no target | — |",
    }
    return "\n".join(lines), summary


async def server_version_of(pool: AsyncConnectionPool) -> str:
    async with pool.connection() as conn:
        row = await (await conn.execute("SHOW server_version")).fetchone()
    return str(row[0]).split()[0] if row else "?"


def check(what: str, got: dict[str, int], want: dict[str, int]) -> bool:
    ok = all(got.get(k) == v for k, v in want.items())
    print(f"  {what}: {got} — {'as expected' if ok else f'EXPECTED {want}'}", flush=True)
    return ok


async def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--no-write", action="store_true", help=f"do not update {DOC.name}")
    opts = args.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    data = file_bytes(ROWS)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        url = database_url(database_server(Path(tmp)), "bench_import")
        pool = await open_pool(url, min_size=2, max_size=4)
        try:
            server_version = await server_version_of(pool)
            async with pool.connection() as conn:
                tenant = await catalog.create_tenant(conn, "bench-import", "Bench Import")
            tenant_id = tenant.id
            event_id = await new_event(pool, tenant_id, "Import")
            rss_before = max_rss_mib()
            print(f"import of {ROWS:,} rows ({len(data) / 1e6:.1f} MB) …", flush=True)
            first = await import_file(pool, tenant_id, event_id, data)
            rss_after = max_rss_mib()
            print(
                f"  upload {first.upload_s:.2f} s, import {first.import_s:.2f} s, "
                f"total {first.total_s:.2f} s; {first.stored:,} stored, "
                f"{first.upload.error_count} reported",
                flush=True,
            )
            want = {"added": VALID, "updated": 0, "unchanged": 0, "missing": 0, "errors": BAD}
            ok &= check("first import", first.counts, want)
            ok &= first.stored == VALID and first.upload.error_count == BAD
            print("re-import of the same file …", flush=True)
            again = await import_file(pool, tenant_id, event_id, data, "again-" + FILENAME)
            print(f"  total {again.total_s:.2f} s", flush=True)
            want = {"added": 0, "updated": 0, "unchanged": VALID, "errors": BAD}
            ok &= check("re-import", again.counts, want) and again.stored == VALID

            print("tracemalloc runs …", flush=True)
            traced: dict[int, tuple[int, float]] = {}
            for n in (SMALL_ROWS, ROWS):
                sized = data if n == ROWS else file_bytes(n)
                peak, run = await traced_import(
                    pool, tenant_id, await new_event(pool, tenant_id, f"Traced {n}"), sized
                )
                ok &= run.counts["added"] == n - n // 100
                traced[n] = (len(sized), peak)
                print(f"  {n:,} rows: peak {_mib(peak)} ({run.total_s:.2f} s traced)")
            memory = Memory(rss_before, rss_after, traced)

            # The ceiling and the naive importer get the rows ready-made, outside the clock.
            rows = valid_rows(data, tenant_id, 0)
            assert len(rows) == VALID, len(rows)
            print("raw COPY ceiling …", flush=True)
            copy_event = await new_event(pool, tenant_id, "COPY ceiling")
            raw = await raw_copy(url, for_event(rows, copy_event))
            ok &= await count_participants(pool, tenant_id, copy_event) == VALID
            print(f"  {raw.rows:,} rows in {raw.seconds:.2f} s", flush=True)

            print(f"naive importer, probe on {PROBE_ROWS:,} rows …", flush=True)
            probe_event = await new_event(pool, tenant_id, "Naive probe")
            probe = await naive_insert(url, for_event(rows[:PROBE_ROWS], probe_event), 1)
            estimate = VALID / probe.rate
            print(f"  {probe.rate:,.0f} rows/s: the whole file would take ~{estimate:.0f} s")
            if estimate <= NAIVE_BUDGET_S:
                commit_every, naive_how = 1, " and one commit per row (autocommit)"
                naive_short = "INSERT + commit per row"
            else:
                commit_every = FALLBACK_COMMIT_EVERY
                naive_short = f"INSERT per row, commit per {commit_every:,}"
                naive_how = (
                    f", a commit every {commit_every:,} rows (one per row would take "
                    f"~{estimate:.0f} s)"
                )
            print(f"naive importer{naive_how} …", flush=True)
            naive_event = await new_event(pool, tenant_id, "Naive")
            naive = await naive_insert(url, for_event(rows, naive_event), commit_every)
            ok &= await count_participants(pool, tenant_id, naive_event) == VALID
            print(f"  {naive.rows:,} rows in {naive.seconds:.2f} s", flush=True)
        finally:
            await pool.close()
    section, summary = render(
        first, again, raw, naive, naive_how, naive_short, memory, len(data), server_version
    )
    print()
    print(section)
    if not ok:
        print("warning: some counts were not as expected (see above)", file=sys.stderr)
    if not opts.no_write:
        report.write_section("import", section, summary)
        print(f"\nwritten to {DOC.relative_to(REPO)}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
