"""The simulator honours `start~LOC~SEQ` on every connection, reconnects, lingers and stops."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from simulator.chaos import ChaosOptions, ClockJump
from simulator.client import BACKOFF_MAX, ConnectionResult
from simulator.replay import SimulationResult, replay
from simulator.sources import SimRead, Stream, SyntheticRace, load_streams
from tests.conftest import REPO, free_port

EPOCH = 1_620_460_000_000_000
WAIT = 10.0


def finish_stream(n: int = 30, cid: str = "sim-scripted") -> Stream:
    reads = tuple(
        SimRead(seq, "FINISH", str(100 + seq), EPOCH + seq * 1_000_000, 1, "0D4E5F", 2)
        for seq in range(1, n + 1)
    )
    return Stream(cid, ("FINISH",), reads)


def two_point_stream() -> Stream:
    """START and FINISH on one connection, seq counted across both as SyntheticRace does."""
    reads = tuple(
        SimRead(seq, ("START", "FINISH")[seq % 2], str(seq), EPOCH + seq * 1_000_000, 1, "0A", 1)
        for seq in range(1, 21)
    )
    return Stream("sim-two", ("START", "FINISH"), reads)


@dataclass
class Peer:
    """The collector's end of one connection, driven by the test."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def raw_line(self) -> bytes | None:
        """The next line with its terminator; None at EOF."""
        raw = await asyncio.wait_for(self.reader.readline(), WAIT)
        return raw or None

    async def line(self) -> str | None:
        raw = await self.raw_line()
        return None if raw is None else raw.rstrip(b"\r\n").decode()

    async def expect(self, want: str) -> None:
        assert await self.line() == want

    async def handshake(self, *starts: str, time_format: str = "iso") -> dict[str, str]:
        """Speaks the collector's side up to the start lines; returns the provider's acks."""
        greeting = await self.line()
        assert greeting == "SimpleClient~0.6.0~CTP01"
        self.send(
            "RaceDisplay~1.0~5",
            "stream-mode=push",
            f"time-format={time_format}",
            "guntimes=true",
            "newlocations=true",
            "location=multi",
            "getconnectionid",
            "geteventinfo",
            "getlocations",
        )
        acks: dict[str, str] = {}
        for _ in range(3):
            line = await self.line()
            assert line is not None and line.startswith("ack~")
            _, command, rest = line.split("~", 2)
            acks[command] = rest
        self.send(*starts)
        return acks

    async def reads(self, n: int) -> list[list[str]]:
        """The next n lines, each a read."""
        out: list[list[str]] = []
        for _ in range(n):
            line = await self.line()
            assert line is not None and line.startswith("CT01_33~"), line
            out.append(line.split("~"))
        return out

    async def reads_until_ping(self) -> list[list[str]]:
        """Reads up to the provider's final ping, which is answered."""
        out: list[list[str]] = []
        while (line := await self.line()) != "ping":
            assert line is not None and line.startswith("CT01_33~"), line
            out.append(line.split("~"))
        self.send("ack~ping")
        return out

    async def eof(self) -> None:
        assert await self.raw_line() is None

    def drop(self) -> None:
        self.writer.close()
        self.done.set()


class ScriptedCollector:
    """A loopback server that hands each accepted connection to the test, in order."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.accepted: list[Peer] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.accepted.append(peer)
        await self.peers.put(peer)
        # Keep the connection until the test is done with it.
        await peer.done.wait()

    async def next(self) -> Peer:
        return await asyncio.wait_for(self.peers.get(), WAIT)

    async def close(self) -> None:
        for peer in self.accepted:
            peer.drop()
        await asyncio.sleep(0)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCollector]:
    server = ScriptedCollector()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def start_replay(
    port: int, streams: list[Stream], **kwargs: object
) -> asyncio.Task[SimulationResult]:
    return asyncio.create_task(replay("127.0.0.1", port, streams, **kwargs))  # type: ignore[arg-type]


def seqs(reads: list[list[str]]) -> list[int]:
    return [int(f[1]) for f in reads]


async def finished(task: asyncio.Task[SimulationResult]) -> ConnectionResult:
    result = await asyncio.wait_for(task, WAIT)
    assert result.errors == {}
    (conn,) = result.connections
    return conn


# -- scripted collector ----------------------------------------------------------------------


async def test_each_connection_sends_from_the_seq_its_start_asks(
    scripted: ScriptedCollector,
) -> None:
    # Live times and a clock jump: a resent read must still be the same line.
    chaos = ChaosOptions(clock_jump=ClockJump(3600, 10))
    task = start_replay(scripted.port, [finish_stream()], reconnect=True, retime=True, chaos=chaos)
    first = await scripted.next()
    acks = await first.handshake("start~FINISH~5")
    assert acks["getconnectionid"] == "sim-scripted"
    assert acks["getlocations"] == "FINISH"
    got = await first.reads(10)
    assert seqs(got) == list(range(5, 15))
    first.drop()

    second = await scripted.next()
    await second.handshake("start~FINISH~12")
    again = await second.reads_until_ping()
    assert seqs(again) == list(range(12, 31))
    # Byte for byte the same read, whichever connection carried it.
    assert again[:3] == got[7:10]
    await second.eof()
    second.drop()

    conn = await finished(task)
    assert (conn.connects, conn.reconnects, conn.drops) == (2, 1, 0)
    # The whole stream went out in one write before the drop, so 12-30 were all resent.
    assert conn.reads_sent == 26 + 19 and conn.resent == 19
    assert conn.last_error is not None


async def test_a_plain_start_after_a_reconnect_sends_everything_again(
    scripted: ScriptedCollector,
) -> None:
    task = start_replay(scripted.port, [finish_stream()], reconnect=True)
    first = await scripted.next()
    await first.handshake("start~FINISH~20")
    assert seqs(await first.reads(11)) == list(range(20, 31))
    await first.expect("ping")
    first.drop()  # before answering the final ping: the provider must come back

    second = await scripted.next()
    await second.handshake("start")
    assert seqs(await second.reads_until_ping()) == list(range(1, 31))
    await second.eof()
    second.drop()
    conn = await finished(task)
    assert conn.connects == 2 and conn.reads_sent == 11 + 30 and conn.resent == 11


async def test_every_location_resumes_on_its_own(scripted: ScriptedCollector) -> None:
    stream = two_point_stream()
    task = start_replay(scripted.port, [stream], reconnect=True)
    first = await scripted.next()
    await first.handshake("start~START~15", "start~FINISH~8")
    got = await first.reads_until_ping()
    # FINISH has the odd seqs from 8 on, START the even ones from 15 on.
    assert seqs(got) == [9, 11, 13, 15, 16, 17, 18, 19, 20]
    await first.eof()
    first.drop()
    await finished(task)


async def test_linger_answers_pings_and_resends_after_a_drop(scripted: ScriptedCollector) -> None:
    stop = asyncio.Event()
    task = start_replay(scripted.port, [finish_stream()], reconnect=True, linger=3600.0, stop=stop)
    first = await scripted.next()
    await first.handshake("start")
    assert seqs(await first.reads(30)) == list(range(1, 31))
    first.send("ping")
    await first.expect("ack~ping")
    first.drop()  # during the linger

    second = await scripted.next()
    await second.handshake("start~FINISH~25")
    assert seqs(await second.reads(6)) == list(range(25, 31))
    second.send("ping")
    await second.expect("ack~ping")
    assert not task.done()
    stop.set()
    # Stopped: the socket is closed without a final ping.
    await second.eof()
    second.drop()
    conn = await finished(task)
    assert (conn.connects, conn.resent, conn.error) == (2, 6, None)


async def test_a_late_start_while_lingering_is_served(scripted: ScriptedCollector) -> None:
    stop = asyncio.Event()
    task = start_replay(scripted.port, [two_point_stream()], linger=3600.0, stop=stop)
    peer = await scripted.next()
    await peer.handshake("start~START~1")
    assert seqs(await peer.reads(10)) == list(range(2, 21, 2))
    # A location named later (as after a newlocation read): its earlier reads go too.
    peer.send("start~FINISH~5")
    assert seqs(await peer.reads(8)) == list(range(5, 21, 2))
    stop.set()
    await peer.eof()
    peer.drop()
    await finished(task)


async def test_cancelling_the_replay_closes_its_sockets(scripted: ScriptedCollector) -> None:
    task = start_replay(scripted.port, [finish_stream()], reconnect=True, linger=3600.0)
    peer = await scripted.next()
    await peer.handshake("start")
    assert len(await peer.reads(30)) == 30
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await peer.eof()
    peer.drop()


async def test_without_reconnect_a_drop_is_an_error(scripted: ScriptedCollector) -> None:
    task = start_replay(scripted.port, [finish_stream()], linger=3600.0)
    peer = await scripted.next()
    await peer.handshake("start")
    await peer.reads(30)
    peer.drop()
    result = await asyncio.wait_for(task, WAIT)
    (conn,) = result.connections
    assert conn.error is not None and conn.connects == 1 and conn.reconnects == 0


async def test_chaos_bytes_carry_the_same_reads(scripted: ScriptedCollector) -> None:
    chaos = ChaosOptions(seed=4, split=True, mixed_eol=True, garbage_rate=0.3, huge_line=9000)
    task = start_replay(scripted.port, [finish_stream()], reconnect=True, chaos=chaos)
    peer = await scripted.next()
    await peer.handshake("start")
    reads: list[bytes] = []
    others: list[bytes] = []
    ends: set[bytes] = set()
    while (raw := await peer.raw_line()) not in (b"ping\r\n", None):
        assert raw is not None
        body = raw.rstrip(b"\r\n")
        fields = body.split(b"~")
        if fields[0] == b"CT01_33" and len(fields) == 8 and fields[1].isdigit():
            reads.append(body)
            ends.add(raw[len(body) :])
        else:
            others.append(body)
    peer.send("ack~ping")
    await peer.eof()
    peer.drop()
    conn = await finished(task)
    assert [int(r.split(b"~")[1]) for r in reads] == list(range(1, 31))
    assert ends == {b"\r\n", b"\n"}
    huge = [o for o in others if len(o) == 9000]
    assert huge == [b"x" * 9000] and conn.huge_lines == 1
    assert len(others) - 1 == conn.garbage_lines > 0
    assert conn.reads_sent == 30


async def test_random_drops_lose_nothing(scripted: ScriptedCollector) -> None:
    """A minimal collector: resume after the highest seq seen, until the stream is done."""
    seen: dict[int, str] = {}
    connections = 0

    async def serve() -> None:
        nonlocal connections
        while True:
            peer = await scripted.peers.get()
            connections += 1
            await peer.handshake(f"start~FINISH~{max(seen) + 1}" if seen else "start")
            while (line := await peer.line()) is not None:
                if line == "ping":
                    peer.send("ack~ping")
                    continue
                f = line.split("~")
                assert f[0] == "CT01_33"
                assert seen.setdefault(int(f[1]), line) == line
            peer.drop()

    server = asyncio.create_task(serve())
    try:
        chaos = ChaosOptions(seed=2, drop_rate=0.1)
        result = await asyncio.wait_for(
            replay("127.0.0.1", scripted.port, [finish_stream()], reconnect=True, chaos=chaos),
            30,
        )
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    (conn,) = result.connections
    assert result.errors == {}
    assert sorted(seen) == list(range(1, 31))
    assert conn.drops >= 1
    assert conn.connects == connections == conn.drops + 1 == conn.reconnects + 1


async def test_a_refused_connection_is_retried_with_backoff() -> None:
    port = free_port()
    task = start_replay(port, [finish_stream(3)], reconnect=True)
    # Nobody listens yet: the provider keeps trying.
    await asyncio.sleep(0.5)
    assert not task.done()
    server = ScriptedCollector()
    await server.start(port)
    try:
        peer = await asyncio.wait_for(server.peers.get(), BACKOFF_MAX + WAIT)
        await peer.handshake("start")
        assert seqs(await peer.reads_until_ping()) == [1, 2, 3]
        await peer.eof()
        peer.drop()
        conn = await finished(task)
    finally:
        await server.close()
    assert conn.reconnects >= 1 and conn.connects == 1


async def test_the_command_survives_a_drop_and_exits_cleanly_on_sigterm(
    scripted: ScriptedCollector,
) -> None:
    """`racedisplay simulate --reconnect --linger`, as the chaos test runs it."""
    race = SyntheticRace(5, seed=3)
    total = len(load_streams([race])[0].reads)
    env = {k: v for k, v in os.environ.items() if k not in ("COLLECTOR_HOST", "COLLECTOR_PORT")}
    env["LOG_LEVEL"] = "INFO"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "simulate", "--synthetic", "5", "--seed", "3",
        "--port", str(scripted.port), "--fast", "--reconnect", "--linger", "600",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = await asyncio.wait_for(scripted.peers.get(), 60)
        await first.handshake("start")
        assert seqs(await first.reads(total)) == list(range(1, total + 1))
        first.drop()
        second = await scripted.next()
        await second.handshake(f"start~START~{total - 1}", f"start~FINISH~{total - 1}")
        assert seqs(await second.reads(2)) == [total - 1, total]
        proc.send_signal(signal.SIGTERM)
        await second.eof()
        second.drop()
        output, _ = await asyncio.wait_for(proc.communicate(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, output.decode()
    assert b"SIGTERM" in output and b"2 connects" in output


# -- the real collector ----------------------------------------------------------------------


async def test_a_chaotic_provider_stores_every_read_once_and_its_garbage(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")
    from app.pubsub import MemoryBus
    from collector.server import Collector
    from collector.session import Timeouts
    from tests.integration.test_collector import collector_settings, eventually, scalar

    race = SyntheticRace(150, seed=11)
    total = len(load_streams([race])[0].reads)
    collector = Collector(
        collector_settings(tmp_path), pool, MemoryBus(), timeouts=Timeouts(acks=2.0)
    )
    await collector.start()
    try:
        chaos = ChaosOptions(seed=5, drop_rate=0.02, split=True, mixed_eol=True, garbage_rate=0.05)
        result = await asyncio.wait_for(
            replay("127.0.0.1", collector.tcp_port, [race], chaos=chaos, reconnect=True), 60
        )
        assert result.errors == {}
        (conn,) = result.connections
        # The first connection is always the same (nothing stored yet), and drops.
        assert conn.drops >= 1 and conn.garbage_lines > 0
        assert conn.connects == conn.drops + 1
        assert conn.reads_sent == total + conn.resent

        async def stored() -> bool:
            reads = await scalar(pool, "SELECT count(*) FROM timing_reads")
            rejects = await scalar(pool, "SELECT count(*) FROM timing_rejects")
            pending = collector.stats()["ingest"]["pending"]
            return bool(reads >= total and rejects >= result.garbage_lines and pending == 0)

        await eventually(stored, within=30)
    finally:
        await collector.stop()
    assert await scalar(pool, "SELECT count(*) FROM timing_reads") == total
    assert (
        await scalar(
            pool, "SELECT count(DISTINCT (location_name, sequence_number)) FROM timing_reads"
        )
        == total
    )
    assert await scalar(pool, "SELECT count(*) FROM timing_rejects") == result.garbage_lines
    assert await scalar(pool, "SELECT count(*) FROM timing_sessions") == 1


async def test_a_huge_line_is_rejected_and_the_reads_still_arrive(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")
    from app.pubsub import MemoryBus
    from collector.server import Collector
    from collector.session import Timeouts
    from tests.integration.test_collector import collector_settings, eventually, scalar

    race = SyntheticRace(20, seed=1)
    total = len(load_streams([race])[0].reads)
    collector = Collector(
        collector_settings(tmp_path), pool, MemoryBus(), timeouts=Timeouts(acks=2.0)
    )
    await collector.start()
    try:
        chaos = ChaosOptions(huge_line=20_000)
        result = await asyncio.wait_for(
            replay("127.0.0.1", collector.tcp_port, [race], chaos=chaos, reconnect=True), 60
        )
        assert result.errors == {}
        (conn,) = result.connections
        assert conn.huge_lines == 1

        async def stored() -> bool:
            reads = await scalar(pool, "SELECT count(*) FROM timing_reads")
            rejects = await scalar(pool, "SELECT count(*) FROM timing_rejects")
            return bool(reads >= total and rejects >= 1)

        await eventually(stored, within=30)
    finally:
        await collector.stop()
    assert await scalar(pool, "SELECT count(*) FROM timing_reads") == total
    assert await scalar(pool, "SELECT array_agg(reason) FROM timing_rejects") == ["line_too_long"]
