"""A few seconds of the Locust scenario against a running platform: it must run clean."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.e2e.conftest import CT_EVENT_ID, Platform, Seeded


def test_locust_scenario_runs_without_failures(
    platform_single: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    env = {
        **platform_single.env,
        "LOADTEST_COLLECTOR": f"127.0.0.1:{platform_single.collector_port}",
        "LOADTEST_DISPLAY": seeded.display_code,
        "LOADTEST_CT_EVENT_ID": CT_EVENT_ID,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "--config",
            "loadtests/locust.conf",
            "--host",
            platform_single.base_url,
            "--users",
            "6",
            "--spawn-rate",
            "6",
            "--run-time",
            "6s",
            "--csv",
            str(tmp_path / "smoke"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "smoke_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert int(rows["push reads"]["Request Count"]) > 0
    assert int(rows["/d/[code]/feed"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    status = httpx.get(f"http://127.0.0.1:{platform_single.status_port}/status").json()
    pushed = int(rows["push reads"]["Request Count"])
    assert status["total_reads"] >= pushed  # every push carries at least one read, all stored
