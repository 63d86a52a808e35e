"""The collector as its own process: a SIGTERM flushes what it took, then it exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import free_port
from tests.e2e.conftest import _wait_http
from tests.integration.test_collector import RawProvider, read


async def _hand_over(port: int, count: int) -> None:
    provider = await RawProvider.connect(port, "term")
    provider.send(*(read(seq, tag=str(seq)) for seq in range(1, count + 1)))
    await provider.round_trip()  # every line handled: all reads are with the writer
    provider.close()


def test_sigterm_flushes_every_read_taken_then_exits_zero(db_url: str, tmp_path: Path) -> None:
    port, status_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "COLLECTOR_PORT": str(port),
        "STATUS_PORT": str(status_port),
        "RACEDISPLAY_DATA_DIR": str(tmp_path / "data"),
        # Long batches: at the signal, the reads are still waiting in the writer.
        "INGEST_BATCH_MS": "60000",
        "INGEST_BATCH_ROWS": "100000",
    }
    env.pop("REDIS_URL", None)
    log = tmp_path / "collector.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "collector"], env=env, stdout=out, stderr=out
        )
    try:
        _wait_http(f"http://127.0.0.1:{status_port}/health", proc)
        asyncio.run(_hand_over(port, 500))
        with psycopg.connect(db_url) as conn:  # none committed yet
            assert conn.execute("SELECT count(*) FROM timing_reads").fetchone() == (0,)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, log.read_text()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM timing_reads").fetchone() == (500,)
    assert "collector stopped" in log.read_text()
