"""(d) Collector memory: per idle CTP01 connection, and over a replay of a million reads.

A real collector runs in its own process (`python -m app.cli collector`, as deployed) on an
embedded PostgreSQL (or DATABASE_URL's server, in a fresh database); its resident set size
is read from /proc/<pid>/status (VmRSS) while this process drives it:

1. baseline, after a few connections came and went (imports, pool and caches warm);
   then N idle providers (default 500) that each completed the CTP01 handshake (greeting,
   header and settings, getconnectionid / geteventinfo / getlocations answered, `start`
   received) and keep answering pings: RSS per idle connection = (RSS_N - baseline) / N;
2. the real 2021 race replayed again and again by the same 10 providers, each round's seqs
   moved past the last round's so that the collector resumes after them and every read is a
   new row, until at least a million reads are committed, sampling RSS and the committed
   count every second: RSS at start, peak and end, and the slope of RSS against committed
   reads over the second half of the replay in MiB per 100k reads. Flat means that slope
   is at most FLAT_SLOPE MiB per 100k reads.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import report  # noqa: E402
from bench_ingest import DATA  # noqa: E402
from databases import database_server, database_url  # noqa: E402

from simulator.replay import replay  # noqa: E402
from simulator.sources import ControllerFiles, Stream, load_streams  # noqa: E402

MiB = 1024 * 1024
# Flat: RSS grows by no more than this many MiB per 100k reads over the second half.
FLAT_SLOPE = 1.0
# Handshakes in flight at once: the collector closes the oldest of more than 16 sockets
# from one host that have not greeted yet.
HANDSHAKES_AT_ONCE = 8


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """The median of a few samples once the process has had time to settle."""
    samples = []
    for _ in range(5):
        await asyncio.sleep(seconds / 5)
        samples.append(rss_bytes(pid))
    return sorted(samples)[len(samples) // 2]


# -- an idle provider --------------------------------------------------------------------------


class IdleProvider:
    """A SimpleClient that completes the handshake, sends no reads and answers pings."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        self.started = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        writer.write(b"SimpleClient~0.6.0~CTP01\r\n")
        self._task = asyncio.create_task(self._listen(reader, writer))
        async with asyncio.timeout(30):
            await self.started.wait()

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while raw := await reader.readline():
            f = raw.decode(errors="replace").strip().split("~")
            cmd = f[0]
            if cmd == "getconnectionid":
                writer.write(f"ack~getconnectionid~{self.connection_id}\r\n".encode())
            elif cmd == "geteventinfo":
                writer.write(b"ack~geteventinfo~Memory bench~MEM-BENCH~idle providers\r\n")
            elif cmd == "getlocations":
                writer.write(b"ack~getlocations~IDLE\r\n")
            elif cmd == "ping" and f[1:2] != ["ack"]:
                writer.write(b"ack~ping\r\n")
            elif cmd == "start":
                self.started.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()


async def open_idle(port: int, count: int) -> list[IdleProvider]:
    providers = [IdleProvider(f"mem-idle-{i:04d}") for i in range(count)]
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    async def one(p: IdleProvider) -> None:
        async with gate:
            await p.open(port)

    await asyncio.gather(*(one(p) for p in providers))
    return providers


# -- the collector process ---------------------------------------------------------------------


@dataclass
class CollectorProcess:
    url: str
    workdir: Path
    tcp_port: int = field(default_factory=free_port)
    status_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(
            DATABASE_URL=self.url,
            COLLECTOR_PORT=str(self.tcp_port),
            STATUS_PORT=str(self.status_port),
            RACEDISPLAY_DATA_DIR=str(self.workdir / "data"),
            LOG_LEVEL="WARNING",
        )
        log = (self.workdir / "collector.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "collector"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the collector exited: see {self.workdir / 'collector.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.status_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the collector did not start listening")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def status(self) -> dict[str, object]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.status_port)
        try:
            writer.write(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        body = raw.split(b"\r\n\r\n", 1)[1]
        answer: dict[str, object] = json.loads(body)
        return answer

    async def committed(self) -> int:
        ingest = (await self.status())["ingest"]
        assert isinstance(ingest, dict)
        return int(ingest["stored"])

    def log_tail(self, size: int = 4000) -> str:
        path = self.workdir / "collector.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the measurements --------------------------------------------------------------------------


@dataclass
class Idle:
    cold: int
    baseline: int
    loaded: int
    count: int
    after_close: int

    @property
    def per_connection(self) -> float:
        return (self.loaded - self.baseline) / self.count


async def measure_idle(collector: CollectorProcess, count: int) -> Idle:
    cold = await settled_rss(collector.pid, 2.0)
    # Warm-up: a few providers come and go, so the baseline holds what any first
    # connection loads once (imports, pool connections, statement caches).
    warm = await open_idle(collector.tcp_port, HANDSHAKES_AT_ONCE)
    for p in warm:
        await p.close()
    baseline = await settled_rss(collector.pid)
    providers = await open_idle(collector.tcp_port, count)
    status = await collector.status()
    if status["connections"] != count:
        raise RuntimeError(f"{status['connections']} connections open, expected {count}")
    loaded = await settled_rss(collector.pid)
    for p in providers:
        await p.close()
    after = await settled_rss(collector.pid)
    return Idle(cold, baseline, loaded, count, after)


@dataclass
class Sample:
    at: float
    reads: int
    rss: int


@dataclass
class Replay:
    reads: int
    seconds: float
    rounds: int
    samples: list[Sample]
    hwm: int

    @property
    def start(self) -> int:
        return self.samples[0].rss

    @property
    def peak(self) -> int:
        return max(s.rss for s in self.samples)

    @property
    def end(self) -> int:
        return self.samples[-1].rss

    def second_half(self) -> list[Sample]:
        return [s for s in self.samples if s.reads >= self.reads / 2]

    def profile(self, step: int = 100_000) -> str:
        """The first sample at or past every `step` reads, as `reads: MiB`."""
        marks: list[str] = []
        mark = 0
        for sample in self.samples:
            if sample.reads >= mark:
                marks.append(f"{sample.reads // 1000:,}k: {sample.rss / MiB:,.0f}")
                mark = (sample.reads // step + 1) * step
        return ", ".join(marks) + " MiB"

    @property
    def slope(self) -> float:
        """MiB of RSS per 100k committed reads over the second half (least squares)."""
        half = self.second_half()
        if len(half) < 2:
            return 0.0
        xs = [s.reads / 100_000 for s in half]
        ys = [s.rss / MiB for s in half]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx == 0:
            return 0.0
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def round_of(streams: list[Stream], k: int) -> list[Stream]:
    """Round k of the real race: the same 10 providers, their seqs moved past round k - 1.

    The providers keep their connection ids, so the collector keeps their timing sessions
    and decoder-health points and asks each to resume after its last stored seq; every read
    of the round is a new row (the seq is part of the idempotency key) with the same tags,
    times and readers as the real race: a long day of the same field, not a new one.
    """
    out = []
    for s in streams:
        step = max(r.seq for r in s.reads)
        reads = tuple(dataclasses.replace(r, seq=r.seq + k * step) for r in s.reads)
        out.append(Stream(f"mem-{s.connection_id}", s.locations, reads))
    return out


async def measure_replay(collector: CollectorProcess, streams: list[Stream], target: int) -> Replay:
    per_round = sum(len(s.reads) for s in streams)
    rounds = -(-target // per_round)
    total = rounds * per_round
    before = await collector.committed()
    started = time.perf_counter()
    samples = [Sample(0.0, 0, rss_bytes(collector.pid))]
    done = asyncio.Event()

    async def sampler() -> None:
        while not done.is_set():
            try:
                async with asyncio.timeout(1.0):
                    await done.wait()
            except TimeoutError:
                pass
            reads = await collector.committed() - before
            samples.append(Sample(time.perf_counter() - started, reads, rss_bytes(collector.pid)))

    sampling = asyncio.create_task(sampler())
    try:
        for k in range(rounds):
            result = await replay("127.0.0.1", collector.tcp_port, round_of(streams, k))
            if result.errors or result.total != per_round:
                raise RuntimeError(f"round {k}: {result.total} reads sent, {result.errors}")
        while True:
            if await collector.committed() - before >= total:
                break
            await asyncio.sleep(0.1)
    finally:
        done.set()
        await sampling
    seconds = time.perf_counter() - started
    end = await settled_rss(collector.pid, 2.0)
    samples.append(Sample(seconds + 2.0, total, end))
    return Replay(total, seconds, rounds, samples, hwm_bytes(collector.pid))


def mib(n: float) -> str:
    return f"{n / MiB:,.1f} MiB"


def render(idle: Idle, rep: Replay, postgres: str, samples_file: str) -> tuple[str, dict[str, str]]:
    flat = rep.slope <= FLAT_SLOPE
    growth = rep.end - rep.start
    lines = [
        "## (d) Collector memory: idle connections and a million-read replay",
        "",
        report.provenance("make bench-memory", postgres),
        "",
        "A real collector in its own process (`python -m app.cli collector`, in-process bus, "
        "embedded PostgreSQL); RSS is VmRSS from `/proc/<pid>/status`, read by the benchmark.",
        "",
        "| idle connections | RSS |",
        "|---|---:|",
        f"| just started | {mib(idle.cold)} |",
        f"| baseline: after {HANDSHAKES_AT_ONCE} providers came and went | {mib(idle.baseline)} |",
        f"| {idle.count} idle providers, each through the CTP01 handshake, answering pings "
        f"| {mib(idle.loaded)} |",
        f"| after those {idle.count} disconnected | {mib(idle.after_close)} |",
        "",
        f"- RSS per idle connection: **{idle.per_connection / 1024:,.1f} KiB** "
        f"((RSS with {idle.count} - baseline) / {idle.count}); each one is a socket, a stream "
        "reader and writer, a parser, the session state machine, a timing session and its "
        "decoder-health point.",
        "",
        f"The real 2021 race replayed {rep.rounds} times by the same 10 providers (one "
        "connection per timing point a round, as fast as the collector takes them), each "
        "round's seqs moved past the last round's so that the collector resumes after them "
        "and every read is a new row, with the same tags, times and readers: "
        f"{rep.reads:,} reads committed in {rep.seconds:.1f} s "
        f"({rep.reads / rep.seconds:,.0f} reads/s), RSS sampled every second "
        f"({len(rep.samples)} samples; all of them in `{samples_file}` after a run).",
        "",
        f"RSS as the committed reads pass each 100k: {rep.profile()}.",
        "",
        "| million-read replay | RSS |",
        "|---|---:|",
        f"| start | {mib(rep.start)} |",
        f"| peak (sampled) | {mib(rep.peak)} |",
        f"| end (all committed, settled) | {mib(rep.end)} |",
        f"| end - start | {growth / MiB:+,.1f} MiB |",
        "",
        f"- slope over the second half ({len(rep.second_half())} samples from "
        f"{rep.reads // 2:,} reads on): **{rep.slope:+.2f} MiB per 100k reads**",
        "",
        "Target (2-core machine): memory flat over the 1M replay, taken as RSS growing by "
        f"at most {FLAT_SLOPE:.1f} MiB per 100k reads over the second half (the first rounds "
        "are warm-up: tag sets, buffers and caches fill once): "
        f"{report.verdict(flat)}.",
    ]
    summary = {
        "d1": f"| (d) collector RSS per idle connection | "
        f"{idle.per_connection / 1024:,.1f} KiB | stated, no target | — |",
        "d2": f"| (d) RSS over a {rep.reads / 1e6:.2f}M-read replay: start / peak / end "
        f"| {rep.start / MiB:,.0f} / {rep.peak / MiB:,.0f} / {rep.end / MiB:,.0f} MiB | "
        f"flat | {report.verdict(flat)} |",
        "d3": f"| (d) RSS slope, second half of the replay | {rep.slope:+.2f} MiB / 100k reads "
        f"| ≤ +{FLAT_SLOPE:.1f} | {report.verdict(flat)} |",
    }
    return "\n".join(lines), summary


def write_samples(samples: list[Sample], path: str = "/tmp/bench-memory-samples.csv") -> str:
    Path(path).write_text(
        "seconds,reads,rss_bytes\n" + "".join(f"{s.at:.2f},{s.reads},{s.rss}\n" for s in samples)
    )
    return path


async def postgres_version(url: str) -> str:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (await conn.execute("SHOW server_version")).fetchone()
    return str(row[0]).split()[0] if row else "?"


async def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--idle", type=int, default=500, help="idle connections (default 500)")
    args.add_argument(
        "--reads", type=int, default=1_000_000, help="reads to replay (default 1,000,000)"
    )
    args.add_argument("--no-write", action="store_true", help=f"do not update {report.DOC.name}")
    opts = args.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: real ChronoTrack files not found at {DATA}", file=sys.stderr)
        return 0
    logging.basicConfig(level=logging.WARNING)
    streams = load_streams([ControllerFiles(DATA)])
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        workdir = Path(tmp)
        url = database_url(database_server(workdir), "bench_memory")
        postgres = await postgres_version(url)
        collector = CollectorProcess(url, workdir)
        collector.start()
        try:
            print(f"collector pid {collector.pid}; {opts.idle} idle connections …", flush=True)
            idle = await measure_idle(collector, opts.idle)
            print(
                f"  baseline {mib(idle.baseline)}, with {idle.count}: {mib(idle.loaded)}, "
                f"{idle.per_connection / 1024:.1f} KiB each",
                flush=True,
            )
            print(f"replaying {opts.reads:,}+ reads …", flush=True)
            rep = await measure_replay(collector, streams, opts.reads)
        except BaseException:
            print(collector.log_tail(), file=sys.stderr)
            raise
        finally:
            collector.stop()
    samples_file = write_samples(rep.samples)
    section, summary = render(idle, rep, postgres, samples_file)
    print(section)
    if not opts.no_write:
        report.write_section("memory", section, summary)
        print(f"\nwritten to {report.DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
