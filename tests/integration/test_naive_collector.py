"""The benchmark's naive collector stores exactly the rows the real collector stores.

Correctness only: `benchmarks/bench_ingest.py` compares their speed, which means nothing
unless both leave the same `timing_reads` behind for the same replay.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.pubsub import MemoryBus
from app.settings import Settings
from tests.conftest import REPO, SHARED_DATA, _with_dbname

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from simulator.replay import replay
from simulator.sources import ControllerFiles, Source, Stream, SyntheticRace, load_streams

sys.path.insert(0, str(REPO / "benchmarks"))
from naive_collector import NaiveCollector

# Every column the collectors fill, with the session and location each read belongs to.
ROWS = """
SELECT s.provider_identity, s.provider_program, s.provider_version, s.ct_event_id,
       l.location_name, l.reader_id, r.location_name, r.sequence_number, r.tag_code,
       r.read_time, r.read_at, r.lap_count, r.reader_id, r.gator_number, r.raw_line
  FROM timing_reads r
  JOIN timing_sessions s ON s.id = r.session_id
  JOIN timing_locations l ON l.id = r.location_id
 ORDER BY 1, 7, 13, 8, 9, 10
"""
PER_POINT = 300


def streams() -> list[Stream]:
    """A synthetic race, and the first reads of every real timing point when they are here."""
    sources: list[Source | Stream] = [SyntheticRace(runners=400, seed=7)]
    if SHARED_DATA.is_dir():
        sources += [
            Stream(s.connection_id, s.locations, s.reads[:PER_POINT])
            for s in load_streams([ControllerFiles(SHARED_DATA)])
        ]
    return load_streams(sources)


@pytest.fixture
async def naive_url(pg_server_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A second fresh database, beside the real collector's `db_url`."""
    name = f"rd_naive_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(pg_server_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _with_dbname(pg_server_url, name)
    async with await psycopg.AsyncConnection.connect(pg_server_url, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def rows_in(url: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await (await conn.execute(ROWS)).fetchall()


async def wait_for(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"{what} not stored in time"
        await asyncio.sleep(0.02)


async def test_the_naive_collector_stores_the_same_rows(
    pool: AsyncConnectionPool, db_url: str, naive_url: str, tmp_path: Path
) -> None:
    replayed = streams()
    total = sum(len(s.reads) for s in replayed)

    settings = Settings(collector_port=0, status_port=0, spool_dir=tmp_path / "spool")
    collector = Collector(settings, pool, MemoryBus())
    await collector.start()
    try:
        result = await replay("127.0.0.1", collector.tcp_port, replayed)
        assert result.errors == {}
        assert result.total == total

        def real_done() -> bool:
            ingest = collector.stats()["ingest"]
            return bool(ingest["accepted"] == total and ingest["pending"] == 0)

        await wait_for(real_done, "the real collector's reads")
    finally:
        await collector.stop()

    naive = NaiveCollector(naive_url)
    await naive.start()
    try:
        result = await replay("127.0.0.1", naive.tcp_port, replayed)
        assert result.errors == {}
        assert result.total == total
        await wait_for(lambda: naive.handled == total, "the naive collector's reads")
        stored_once = naive.stored
        # The same replay again: one INSERT per read still, and not one new row.
        result = await replay("127.0.0.1", naive.tcp_port, replayed)
        assert result.errors == {}
        await wait_for(lambda: naive.handled == 2 * total, "the naive collector's repeat")
        assert naive.stored == stored_once
    finally:
        await naive.stop()

    real_rows, naive_rows = await rows_in(db_url), await rows_in(naive_url)
    assert len(real_rows) == stored_once > 0
    assert naive_rows == real_rows
