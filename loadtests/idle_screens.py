"""How many idle SSE screens one web worker holds in 1 GiB of memory.

Starts its own `racedisplay web` (one process, in-process bus, no collector) against the
load-test database (embedded PostgreSQL under var/loadtest unless DATABASE_URL), seeds one
display, then opens idle SSE connections to it in steps, sampling the worker's RSS after each
step. The RSS growth per connection (least squares over the steps) extrapolates to the number
of screens that fit in 1 GiB:

    .venv/bin/python loadtests/idle_screens.py [--screens 4000] [--steps 8]

Idle means connected and receiving only heartbeats: no reads arrive during the measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import REPO, database_url, free_port, migrate, seed, start_web, stop, wait_ready

GIB = 2**30


def open_screens(
    port: int, code: str, count: int, sel: selectors.DefaultSelector
) -> list[socket.socket]:
    """count SSE connections, each past its response headers."""
    request = (
        f"GET /d/{code}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    socks: list[socket.socket] = []
    pending: dict[socket.socket, bytes] = {}
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(request)
        s.setblocking(False)
        socks.append(s)
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
        # Keep the accept queue short: wait for the headers of most of them as we go.
        if len(pending) >= 200:
            _await_headers(sel, pending, keep=50)
    _await_headers(sel, pending, keep=0)
    return socks


def _await_headers(
    sel: selectors.DefaultSelector, pending: dict[socket.socket, bytes], keep: int
) -> None:
    deadline = time.monotonic() + 60
    while len(pending) > keep:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} screens got no response headers within 60 s")
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise RuntimeError("the worker closed an SSE connection")
            if s in pending:
                pending[s] += data
                if b"\r\n\r\n" in pending[s]:
                    if b" 200 " not in pending[s].split(b"\r\n", 1)[0] + b" ":
                        raise RuntimeError(pending[s].split(b"\r\n", 1)[0].decode())
                    del pending[s]


def drain(sel: selectors.DefaultSelector, seconds: float) -> None:
    """Read whatever arrives (heartbeats) for a while, so nothing piles up in buffers."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        for key, _ in sel.select(timeout=min(left, 0.5)):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            with contextlib.suppress(BlockingIOError):
                s.recv(65536)


def main() -> int:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", type=int, default=4000, help="screens at the last step")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before each sample")
    parser.add_argument(
        "--record", action="store_true", help="write the figure into docs/benchmarks.md"
    )
    args = parser.parse_args()

    data_dir = Path(os.environ.get("LOADTEST_DATA_DIR") or REPO / "var" / "loadtest").resolve()
    url = database_url(data_dir)
    migrate(url)
    run_id = "idle-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    seeded = seed(url, run_id=run_id, tags=[], display_locations=[["FINISH1"]], archive_old=False)
    code = seeded.displays[0]["code"]
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        RACEDISPLAY_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    env.pop("REDIS_URL", None)
    report_dir = REPO / "loadtest-report"
    report_dir.mkdir(exist_ok=True)
    web = start_web(env, report_dir / f"{run_id}-web.log")
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    samples: list[tuple[int, float]] = []
    try:
        wait_ready(web, ("127.0.0.1", port))
        worker = psutil.Process(web.pid)
        # Warm the display's feed and the worker's code paths with a few screens.
        socks += open_screens(port, code, 10, sel)
        drain(sel, args.settle)
        samples.append((len(socks), worker.memory_info().rss))
        per_step = max(1, (args.screens - len(socks)) // args.steps)
        while len(socks) < args.screens:
            socks += open_screens(port, code, min(per_step, args.screens - len(socks)), sel)
            drain(sel, args.settle)
            rss = worker.memory_info().rss
            samples.append((len(socks), rss))
            print(f"{len(socks):6d} idle screens: worker RSS {rss / 2**20:7.1f} MiB", flush=True)
    finally:
        for s in socks:
            s.close()
        stop(web)

    n = [float(x) for x, _ in samples]
    r = [float(y) for _, y in samples]
    mean_n, mean_r = sum(n) / len(n), sum(r) / len(r)
    slope = sum((a - mean_n) * (b - mean_r) for a, b in zip(n, r, strict=True)) / sum(
        (a - mean_n) ** 2 for a in n
    )
    base = mean_r - slope * mean_n
    fits = int((GIB - base) / slope) if slope > 0 else 0
    result = {
        "screens_measured": int(n[-1]),
        "rss_mib_first": r[0] / 2**20,
        "rss_mib_last": r[-1] / 2**20,
        "rss_per_screen_kib": slope / 1024,
        "rss_base_mib": base / 2**20,
        "screens_in_1_gib": fits,
        "samples": samples,
    }
    (report_dir / f"{run_id}.json").write_text(json.dumps(result, indent=1))
    line = (
        f"one web worker: {slope / 1024:.1f} KiB RSS per idle SSE screen over {int(n[-1])} "
        f"screens (base {base / 2**20:.0f} MiB) -> about {fits:,} idle screens in 1 GiB"
    )
    print("\n" + line)
    if args.record:
        _record(args, line, slope, fits, samples)
    return 0


def _record(
    args: argparse.Namespace,
    line: str,
    slope: float,
    fits: int,
    samples: list[tuple[int, float]],
) -> None:
    from fragments import benchmarks_report

    report = benchmarks_report()

    steps = ", ".join(f"{n:,}: {rss / 2**20:.0f} MiB" for n, rss in samples)
    body = "\n".join(
        [
            "## (g) Idle SSE screens one web worker holds in 1 GiB",
            "",
            f"Command: `.venv/bin/python loadtests/idle_screens.py --screens {args.screens} "
            f"--steps {args.steps} --record`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.  ",
            f"Machine: {report.machine()}.",
            "",
            "One `racedisplay web` process; its display's feed warm; screens connected and "
            "receiving only heartbeats; RSS sampled after each step and fitted by least squares.",
            "",
            f"- screens → worker RSS: {steps}",
            f"- {line}",
            "",
        ]
    )
    row = {
        "g1": f"| (g) idle SSE screens per web worker in 1 GiB ({slope / 1024:.1f} KiB each) "
        f"| {fits:,} | stated, no target | — |"
    }
    report.write_section("idle", body, row)


if __name__ == "__main__":
    sys.exit(main())
