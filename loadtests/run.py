"""`make loadtest`: start the platform, seed an event, run the Locust scenario headless, report.

Every knob is an environment variable (see loadtests/README.md); the defaults are the scenario
of issue 6: 1,000 SSE screens over 20 displays, 100 polling screens, 100 naive screens, 5
directors, FINISH1 and FINISH2 of the 2021 race (both busy from the first rush on) replayed
at 10x. A quick smoke run:

    make loadtest LOADTEST_SCREENS=50 LOADTEST_DISPLAYS=2 LOADTEST_DURATION=30s

The report goes to loadtest-report/<UTC timestamp>/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import (
    DATA_ROOT,
    EMAIL,
    PASSWORD,
    REPO,
    database_url,
    env_float,
    env_int,
    env_str,
    free_port,
    migrate,
    process_tree,
    seed,
    start_platform,
    stop,
    wait_ready,
)


def race_start_us(streams: list, race_from: str) -> int:  # type: ignore[type-arg]
    """Where the replay starts: HH:MM (UTC, on the race day), else the first rush of reads."""
    from app.domain.reads import CONTROL_TAGS
    from simulator.demo import from_first_rush

    if race_from:
        first = min(r.epoch_us for s in streams for r in s.reads if r.epoch_us > 1e15)
        day = datetime.fromtimestamp(first / 1e6, UTC)
        hh, mm = (int(x) for x in race_from.split(":"))
        return int(day.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp() * 1e6)
    trimmed = from_first_rush(tuple(streams))
    return min(r.epoch_us for s in trimmed for r in s.reads if r.tag not in CONTROL_TAGS)


def display_locations(count: int, points: list[str]) -> list[list[str]]:
    """Two of three displays show one finish point, one of three shows all of them."""
    out: list[list[str]] = []
    for i in range(count):
        if len(points) < 2 or i % 3 == 0:
            out.append(list(points))
        else:
            out.append([points[0] if i % 3 == 1 else points[-1]])
    return out


def sample_resources(
    platform_pid: int, locust: subprocess.Popen[bytes], path: Path, stop_flag: threading.Event
) -> None:
    """CPU seconds and RSS of the platform's processes and of Locust, every 2 s."""
    with path.open("w") as f:
        f.write(
            "time,platform_cpu_s,platform_rss_mb,platform_max_rss_mb,locust_cpu_s,locust_rss_mb\n"
        )
        while not stop_flag.is_set():
            rows = []
            for pid in (platform_pid, locust.pid):
                cpu = rss = peak = 0.0
                for p in process_tree(pid):
                    try:
                        t = p.cpu_times()
                        mem = p.memory_info().rss / 2**20
                    except Exception:
                        continue
                    cpu += t.user + t.system
                    rss += mem
                    peak = max(peak, mem)
                rows.append((cpu, rss, peak))
            (pc, pr, pp), (lc, lr, _) = rows
            f.write(f"{time.time():.3f},{pc:.3f},{pr:.1f},{pp:.1f},{lc:.3f},{lr:.1f}\n")
            f.flush()
            stop_flag.wait(2.0)


def main() -> int:
    from simulator.sources import list_tags, load_point

    duration = env_str("LOADTEST_DURATION", "5m")
    counts = {
        "DisplayScreen": env_int("LOADTEST_SCREENS", 1000),
        "PollingScreen": env_int("LOADTEST_POLLERS", 100),
        "NaiveScreen": env_int("LOADTEST_NAIVE", 100),
        "Director": env_int("LOADTEST_DIRECTORS", 5),
    }
    n_displays = env_int("LOADTEST_DISPLAYS", 20)
    speed = env_float("LOADTEST_SPEED", 10.0)
    points = [p.strip() for p in env_str("LOADTEST_POINTS", "FINISH1,FINISH2").split(",")]
    data_root = Path(env_str("LOADTEST_DATA", str(DATA_ROOT)))
    data_dir = Path(env_str("LOADTEST_DATA_DIR", str(REPO / "var" / "loadtest"))).resolve()
    report_root = Path(env_str("LOADTEST_REPORT_DIR", str(REPO / "loadtest-report")))
    if not data_root.is_dir():
        print(f"loadtest: no race data at {data_root} (set LOADTEST_DATA)", file=sys.stderr)
        return 2

    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = (report_root / run_id).resolve()
    out.mkdir(parents=True)
    print(f"loadtest {run_id}: report in {out}", flush=True)

    streams = [load_point(data_root / p) for p in points]
    race_from = race_start_us(streams, env_str("LOADTEST_RACE_FROM", ""))
    tags = sorted(list_tags(streams))

    url = database_url(data_dir)
    migrate(url)
    seeded = seed(
        url, run_id=run_id, tags=tags, display_locations=display_locations(n_displays, points)
    )
    print(
        f"seeded event {seeded.event_id} ({seeded.ct_event_id}): {len(seeded.known)} "
        f"participants, {len(seeded.displays)} displays",
        flush=True,
    )

    http_port = env_int("LOADTEST_HTTP_PORT", 0) or free_port()
    collector_port = env_int("LOADTEST_COLLECTOR_PORT", 0) or free_port()
    status_port = env_int("LOADTEST_STATUS_PORT", 0) or free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(http_port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{http_port}",
        COLLECTOR_HOST="127.0.0.1",
        COLLECTOR_PORT=str(collector_port),
        STATUS_PORT=str(status_port),
        RACEDISPLAY_DATA_DIR=str(data_dir),
        TIMING_TIMEZONE="UTC",
        CTP_TIME_FORMAT="iso",
        LOG_LEVEL=env_str("LOADTEST_LOG_LEVEL", "WARNING"),
    )
    redis: subprocess.Popen[bytes] | None = None
    if not env.get("REDIS_URL") and env_str("LOADTEST_REDIS", "") == "start":
        redis_port = free_port()
        redis = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=(out / "redis.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        time.sleep(0.5)
    layout = (
        f"collector + {env.get('WEB_WORKERS', '2')} web workers over Redis"
        if env.get("REDIS_URL")
        else "one process (app + collector, in-process bus)"
    )

    platform = start_platform(env, out / "platform.log")
    locust: subprocess.Popen[bytes] | None = None
    probe: subprocess.Popen[bytes] | None = None
    stop_flag = threading.Event()
    sampler: threading.Thread | None = None
    started = time.time()
    try:
        wait_ready(platform, ("127.0.0.1", http_port), ("127.0.0.1", collector_port))
        scenario = {
            "run_id": run_id,
            "base_url": f"http://127.0.0.1:{http_port}",
            "collector": f"127.0.0.1:{collector_port}",
            "ct_event_id": seeded.ct_event_id,
            "event_id": seeded.event_id,
            "email": EMAIL,
            "password": PASSWORD,
            "data_root": str(data_root),
            "points": points,
            "speed": speed,
            "race_from_us": race_from,
            "tag_mode": seeded.tag_mode,
            "displays": seeded.displays,
            "known": seeded.known,
            "duration": duration,
            "counts": counts,
            "layout": layout,
            "grace_s": env_float("LOADTEST_GRACE", 5.0),
        }
        (out / "scenario.json").write_text(json.dumps(scenario, indent=1))
        classes = ["ReplayProvider", *[c for c, n in counts.items() if n > 0]]
        users = len(points) + sum(counts.values())
        spawn_rate = env_float("LOADTEST_SPAWN_RATE", max(20.0, users / 20))
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests" / "scenario.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(spawn_rate),
            "--run-time",
            duration,
            "--csv",
            str(out / "locust"),
            "--csv-full-history",
            "--html",
            str(out / "locust.html"),
            "--only-summary",
            "--processes",
            str(env_int("LOADTEST_PROCESSES", 2)),
            "--loglevel",
            "WARNING",
            *classes,
        ]
        locust_env = dict(
            os.environ,
            LOADTEST_SCENARIO=str(out / "scenario.json"),
            LOADTEST_OUT=str(out),
            LOADTEST_SCREENS=str(counts["DisplayScreen"]),
            LOADTEST_POLLERS=str(counts["PollingScreen"]),
            LOADTEST_NAIVE=str(counts["NaiveScreen"]),
            LOADTEST_DIRECTORS=str(counts["Director"]),
        )
        print(
            f"platform: {layout} at {scenario['base_url']}; locust: {users} users "
            f"({', '.join(f'{n} {c}' for c, n in counts.items())}, {len(points)} providers) "
            f"for {duration}",
            flush=True,
        )
        probe_log = (out / "probe.log").open("wb")
        probe = subprocess.Popen(
            [sys.executable, str(REPO / "loadtests" / "probe.py"), str(out)],
            cwd=REPO,
            stdout=probe_log,
            stderr=probe_log,
        )
        with (out / "locust.log").open("wb") as log:
            locust = subprocess.Popen(cmd, cwd=REPO, env=locust_env, stdout=log, stderr=log)
            sampler = threading.Thread(
                target=sample_resources,
                args=(platform.pid, locust, out / "resources.csv", stop_flag),
                daemon=True,
            )
            sampler.start()
            locust.wait()
    finally:
        stop_flag.set()
        if probe is not None and probe.poll() is None:
            probe.terminate()
            probe.wait(30)
        if sampler is not None:
            sampler.join(5)
        if locust is not None and locust.poll() is None:
            locust.terminate()
            locust.wait(30)
        stop(platform)
        if redis is not None:
            stop(redis)
    code = locust.returncode if locust else "-"
    print(f"locust exited with {code} after {time.time() - started:.0f} s")

    from report import build

    summary = build(out)
    print(summary)
    print(f"\nreport: {out}/summary.md")
    if os.environ.get("LOADTEST_RECORD") == "1":
        from report import record_in_benchmarks

        record_in_benchmarks(out, summary)
        print("recorded in docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
