"""The whole real 2021 race, ten timing points at once, as fast as the collector takes it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from app.pubsub import MemoryBus
from app.settings import Settings
from tests.conftest import shared_data_or_skip

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from simulator.replay import replay
from simulator.sources import ControllerFiles, Stream, load_streams

TOTAL = 64_990
# Reads per timing point (START1 is two boots of one controller, concatenated).
PER_POINT = {
    "19K": 918,
    "27k": 882,
    "39k": 3_485,
    "9K": 849,
    "FINISH1": 13_716,
    "FINISH2": 10_898,
    "FINISH3": 14_367,
    "START1": 7_346,
    "START2": 4_808,
    "mini-12250FINISH4": 7_721,
}


async def _replay_and_wait(collector: Collector, streams: list[Stream]) -> float:
    before = collector.stats()["ingest"]["accepted"]
    started = time.perf_counter()
    result = await replay("127.0.0.1", collector.tcp_port, streams)
    assert result.errors == {}
    assert result.total == TOTAL
    deadline = time.monotonic() + 60
    while True:
        ingest = collector.stats()["ingest"]
        if ingest["accepted"] - before == TOTAL and ingest["pending"] == 0:
            break
        assert time.monotonic() < deadline, f"not stored in time: {ingest}"
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    print(
        f"\n{TOTAL:,} reads over 10 connections in {elapsed:.2f}s: {TOTAL / elapsed:,.0f} reads/s"
    )
    return elapsed


async def test_the_full_real_race_is_stored_exactly_once(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    data = shared_data_or_skip()
    streams = load_streams([ControllerFiles(data)])
    assert {s.connection_id: len(s.reads) for s in streams} == {
        f"sim-{point}": n for point, n in PER_POINT.items()
    }
    settings = Settings(collector_port=0, status_port=0, spool_dir=tmp_path / "spool")
    collector = Collector(settings, pool, MemoryBus())
    await collector.start()
    try:
        await _replay_and_wait(collector, streams)
        assert collector.stats()["total_reads"] == TOTAL
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT location_name, count(*) FROM timing_reads GROUP BY 1 ORDER BY 1"
            )
            assert dict(await cur.fetchall()) == PER_POINT
            cur = await conn.execute("SELECT count(*) FROM timing_sessions")
            assert await cur.fetchone() == (10,)

        # The same providers again: each is asked to resume after its last seq, so nothing
        # is sent twice and nothing new is stored.
        again = await replay("127.0.0.1", collector.tcp_port, streams)
        assert again.errors == {} and again.total == 0
        assert collector.stats()["total_reads"] == TOTAL
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM timing_reads")
            assert await cur.fetchone() == (TOTAL,)
    finally:
        await collector.stop()
