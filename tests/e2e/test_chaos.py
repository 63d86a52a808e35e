"""Chaos: the full real race while the collector is SIGKILLed twice and PostgreSQL stops.

Everything is real and separate: a PostgreSQL of the test's own (so it can be stopped), the
collector as a process (so it can be killed), and `racedisplay simulate` as ten providers
that reconnect and resume as SimpleClient does. At the end every read is stored exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.db.migrate import apply_migrations
from tests.conftest import free_port, shared_data_or_skip
from tests.integration.test_full_replay import PER_POINT, TOTAL

pgserver = pytest.importorskip("pgserver")
from pgserver._commands import pg_ctl  # noqa: E402


class StoppablePostgres:
    """An embedded PostgreSQL the test owns, so it can stop and start it."""

    def __init__(self, pgdata: Path) -> None:
        self.server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
        self.pgdata = pgdata
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chaos")
        self.url: str = self.server.get_uri("chaos")
        self._socket_dir = psycopg.conninfo.conninfo_to_dict(self.url)["host"]

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        args = ["-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self.pgdata / "log")]
        pg_ctl([*args, "start"], pgdata=self.pgdata, user=self.server.system_user, timeout=30)

    def count(self, sql: str = "SELECT count(*) FROM timing_reads") -> int:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                row = conn.execute(sql).fetchone()
                return int(row[0]) if row else 0
        except psycopg.OperationalError:
            return -1


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[StoppablePostgres]:
    pg = StoppablePostgres(tmp_path / "pg")
    apply_migrations(pg.url)
    yield pg
    if pg.count() < 0:
        pg.start()  # so that pgserver's own clean-up finds it running


class CollectorProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "collector"], env=self.env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(30)


def _wait_for(check: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_no_read_is_lost_or_doubled_through_kills_and_a_database_outage(
    postgres: StoppablePostgres, tmp_path: Path
) -> None:
    data = shared_data_or_skip()
    collector_port, status_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "COLLECTOR_PORT": str(collector_port),
        "STATUS_PORT": str(status_port),
        "RACEDISPLAY_DATA_DIR": str(tmp_path / "data"),
        "COLLECTOR_SPOOL_DIR": str(tmp_path / "spool"),
        "LOG_LEVEL": "INFO",
    }
    logs = tmp_path / "collector.log"
    collector = CollectorProcess(env, logs)
    collector.start()
    # Paced to last about half a minute, so the chaos lands in the middle of the race.
    simulate = [
        sys.executable, "-m", "app.cli", "simulate", "--data", str(data),
        "--port", str(collector_port), "--speed", "400", "--max-gap", "0.5",
        "--reconnect", "--linger", "600",
    ]  # fmt: skip
    with (tmp_path / "simulate.log").open("wb") as out:
        providers = subprocess.Popen(simulate, env=env, stdout=out, stderr=out)
    try:
        _wait_for(lambda: postgres.count() > 2_000, 60, "the first reads")
        collector.kill()
        collector.start()

        _wait_for(lambda: postgres.count() > 15_000, 90, "reads after the first kill")
        postgres.stop()
        outage_started = time.monotonic()
        time.sleep(5)
        # Killed while the spool holds what came in during the outage.
        collector.kill()
        spooled = list((tmp_path / "spool").glob("segment-*.jsonl"))
        collector.start()
        time.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
        postgres.start()

        _wait_for(lambda: postgres.count() >= TOTAL, 180, f"{TOTAL} reads")
        # Let anything still in flight land, so a double would show.
        time.sleep(2)
        assert collector.terminate() == 0
    finally:
        providers.terminate()
        providers.wait(30)
        if collector.proc is not None and collector.proc.poll() is None:
            collector.proc.kill()
        sys.stderr.write(logs.read_text()[-20_000:])
    assert spooled, "the outage should have sent reads to the spool"
    assert postgres.count() == TOTAL
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute(
            "SELECT location_name, count(*) FROM timing_reads GROUP BY 1"
        ).fetchall()
        rejects = conn.execute("SELECT count(*) FROM timing_rejects").fetchone()
    assert dict(rows) == PER_POINT
    assert rejects == (0,)
    assert not list((tmp_path / "spool").glob("segment-*.jsonl"))
