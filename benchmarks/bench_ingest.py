"""Ingest throughput: the full real replay end to end, against the COPY ceiling and row inserts."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.db import timing  # noqa: E402
from app.db.embedded import start_embedded  # noqa: E402
from app.db.migrate import apply_migrations  # noqa: E402
from app.db.pool import open_pool  # noqa: E402
from app.domain.reads import NewRead  # noqa: E402
from app.pubsub import MemoryBus  # noqa: E402
from app.settings import Settings  # noqa: E402
from collector.server import Collector  # noqa: E402
from simulator.client import format_time, read_line  # noqa: E402
from simulator.replay import replay  # noqa: E402
from simulator.sources import ControllerFiles, Stream, load_streams  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "chronotrack-2021"
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- ingest:begin -->", "<!-- ingest:end -->"
INSERT_ROW = """
INSERT INTO timing_reads (session_id, location_id, sequence_number, location_name, tag_code,
                          read_time, read_at, lap_count, reader_id, gator_number, raw_line,
                          received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT timing_reads_idempotency_key DO NOTHING
"""


@dataclass(frozen=True)
class Figure:
    what: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def database_url(workdir: Path) -> str:
    """A fresh, migrated database on DATABASE_URL's server or an embedded one in workdir."""
    server = os.environ.get("DATABASE_URL") or start_embedded(workdir, dbname="postgres")
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(server)
    params["dbname"] = name
    url = psycopg.conninfo.make_conninfo("", **params)
    apply_migrations(url)
    return url


async def end_to_end(
    settings: Settings, pool: AsyncConnectionPool, streams: list[Stream]
) -> Figure:
    collector = Collector(settings, pool, MemoryBus())
    await collector.start()
    try:
        started = time.perf_counter()
        result = await replay("127.0.0.1", collector.tcp_port, streams)
        if result.errors:
            raise RuntimeError(f"replay failed: {result.errors}")
        # Accepted and nothing pending: also true of a replay that only brings duplicates.
        while True:
            ingest = collector.stats()["ingest"]
            if ingest["accepted"] == result.total and ingest["pending"] == 0:
                break
            await asyncio.sleep(0.005)
        return Figure("end to end", result.total, time.perf_counter() - started)
    finally:
        await collector.stop()


async def rows_as_stored(pool: AsyncConnectionPool, streams: list[Stream]) -> list[NewRead]:
    """The rows the collector stored, rebuilt from the files (same sessions and locations)."""
    rows: list[NewRead] = []
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        for stream in streams:
            session = await timing.open_session(
                conn,
                provider_identity=stream.connection_id,
                session_name="Session_bench",
                provider_program="SimpleClient",
                provider_version="0.6.0",
            )
            location = stream.locations[0]
            location_id = await timing.ensure_location(conn, session.id, location)
            for r in stream.reads:
                text = format_time(r.epoch_us, "iso")
                read_at = datetime.fromisoformat(text).replace(tzinfo=UTC)
                raw = read_line(r, text).rstrip()
                rows.append(
                    NewRead(
                        session.id,
                        location_id,
                        r.seq,
                        location,
                        r.tag,
                        text,
                        read_at,
                        r.lap,
                        r.reader,
                        r.antenna,
                        raw,
                        now,
                    )
                )
    return rows


async def truncate(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await conn.execute("TRUNCATE timing_reads")
        await conn.execute("VACUUM ANALYZE timing_reads")


async def copy_ceiling(pool: AsyncConnectionPool, rows: list[NewRead], batch: int) -> Figure:
    await truncate(pool)
    started = time.perf_counter()
    stored = 0
    async with pool.connection() as conn:
        for i in range(0, len(rows), batch):
            stored += len(await timing.store_reads(conn, rows[i : i + batch]))
    assert stored == len(rows), stored
    return Figure("COPY ceiling", stored, time.perf_counter() - started)


async def row_inserts(pool: AsyncConnectionPool, rows: list[NewRead]) -> Figure:
    await truncate(pool)
    started = time.perf_counter()
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(INSERT_ROW, rows)
    seconds = time.perf_counter() - started
    async with pool.connection() as conn:
        count = await timing.count_reads(conn)
    assert count == len(rows), count
    return Figure("row inserts", count, seconds)


async def raw_copy(pool: AsyncConnectionPool, rows: list[NewRead], batch: int) -> Figure:
    """COPY straight into timing_reads: no staging, no idempotency, nothing returned."""
    await truncate(pool)
    columns = ", ".join(NewRead._fields)
    started = time.perf_counter()
    async with pool.connection() as conn:
        for i in range(0, len(rows), batch):
            async with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY timing_reads ({columns}) FROM STDIN") as copy,
            ):
                for row in rows[i : i + batch]:
                    await copy.write_row(row)
    return Figure("raw COPY", len(rows), time.perf_counter() - started)


async def one_by_one(pool: AsyncConnectionPool, rows: list[NewRead]) -> Figure:
    """One INSERT per row, each awaited before the next (no pipeline), one transaction."""
    await truncate(pool)
    started = time.perf_counter()
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        for row in rows:
            await cur.execute(INSERT_ROW, row)
    return Figure("one by one", len(rows), time.perf_counter() - started)


def report(figures: dict[str, Figure], settings: Settings, server_version: str) -> str:
    e2e, again, copy, rows = (figures[k] for k in ("e2e", "again", "copy", "rows"))
    raw, single = figures["raw"], figures["single"]
    lines = [
        BEGIN,
        "## Ingest: simulator → collector → PostgreSQL",
        "",
        f"Measured {date.today().isoformat()} with `make bench-ingest`: Python "
        f"{platform.python_version()}, PostgreSQL {server_version}, {os.cpu_count()} CPUs, "
        f"batches of {settings.batch_max_rows} rows / {settings.batch_max_ms} ms. The full "
        "2021 data set (10 timing points, one CTP01 connection each, `--fast`) into one "
        "collector, then the same rows written straight into `timing_reads`.",
        "",
        "| path | rows | seconds | rows/s |",
        "|---|---:|---:|---:|",
        f"| end to end: simulator → CTP01 → collector → COPY → publish | {e2e.rows:,} | "
        f"{e2e.seconds:.2f} | {e2e.rate:,.0f} |",
        f"| the same replay again (every row a duplicate, nothing published) | {again.rows:,} | "
        f"{again.seconds:.2f} | {again.rate:,.0f} |",
        f"| COPY ceiling: `store_reads` (staging COPY + INSERT … ON CONFLICT), no network or "
        f"protocol | {copy.rows:,} | {copy.seconds:.2f} | {copy.rate:,.0f} |",
        f"| row-by-row INSERT … ON CONFLICT (`executemany`, one transaction) | {rows.rows:,} | "
        f"{rows.seconds:.2f} | {rows.rate:,.0f} |",
        f"| for reference: plain COPY into `timing_reads` (not idempotent) | {raw.rows:,} | "
        f"{raw.seconds:.2f} | {raw.rate:,.0f} |",
        f"| for reference: one awaited INSERT per row (no pipeline) | {single.rows:,} | "
        f"{single.seconds:.2f} | {single.rate:,.0f} |",
        "",
        f"- ingest / COPY ceiling: **{e2e.rate / copy.rate:.2f}**",
        f"- COPY / row inserts: **{copy.rate / rows.rate:.1f}x**",
        "",
        "psycopg's `executemany` pipelines its INSERTs, so the per-row round trip is gone "
        "from that line; what is left on both sides is the server's work per row (four "
        "indexes, two foreign keys). The end-to-end line adds the CTP01 framing and parsing, "
        "time conversion, the bounded queue and serialising every stored read onto the bus.",
        END,
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


async def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"the real ChronoTrack files are not at {DATA}; nothing to measure")
    logging.basicConfig(level=logging.WARNING)
    settings = replace(Settings.from_env(), collector_port=0, status_port=0)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        url = database_url(Path(tmp))
        pool = await open_pool(url, min_size=2, max_size=5)
        try:
            async with pool.connection() as conn:
                row = await (await conn.execute("SHOW server_version")).fetchone()
                server_version = str(row[0]).split()[0] if row else "?"
            # Files are read before the clock starts: the figure is about ingest, not disks.
            streams = load_streams([ControllerFiles(DATA)])
            figures = {
                "e2e": await end_to_end(settings, pool, streams),
                "again": await end_to_end(settings, pool, streams),
            }
            rows = await rows_as_stored(pool, streams)
            figures["copy"] = await copy_ceiling(pool, rows, settings.batch_max_rows)
            figures["rows"] = await row_inserts(pool, rows)
            figures["raw"] = await raw_copy(pool, rows, settings.batch_max_rows)
            figures["single"] = await one_by_one(pool, rows)
        finally:
            await pool.close()
    # The second replay stores nothing: count what it handled, not what it added.
    figures["again"] = Figure("again", figures["e2e"].rows, figures["again"].seconds)
    section = report(figures, settings, server_version)
    print(section)
    write_doc(section)
    print(f"\nwritten to {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
