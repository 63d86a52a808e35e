"""A real Collector on loopback with the real database and an in-process bus."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.reads import NewRead, ReadBatch, event_channel, session_channel
from app.pubsub import MemoryBus
from app.settings import Settings

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from collector.session import Timeouts
from collector.spool import Spool
from collector.writer import IngestWriter
from simulator.client import ProviderInfo
from simulator.replay import replay
from simulator.sources import SyntheticRace, load_streams

RACE = SyntheticRace(120, seed=7)
RACE_READS = len(load_streams([RACE])[0].reads)


@dataclass
class Harness:
    collector: Collector
    bus: MemoryBus
    pool: AsyncConnectionPool


def collector_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Ephemeral ports and a spool of the test's own."""
    defaults: dict[str, Any] = {
        "collector_port": 0,
        "status_port": 0,
        "batch_max_rows": 50,
        "batch_max_ms": 20,
        "spool_dir": tmp_path / "spool",
    }
    return Settings(**{**defaults, **overrides})


@pytest.fixture
async def harness(pool: AsyncConnectionPool, tmp_path: Path) -> AsyncIterator[Harness]:
    bus = MemoryBus()
    settings = collector_settings(tmp_path)
    collector = Collector(settings, pool, bus, timeouts=Timeouts(acks=2.0))
    await collector.start()
    try:
        yield Harness(collector, bus, pool)
    finally:
        await collector.stop()
        await bus.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


async def scalar(pool: AsyncConnectionPool, sql: str, *params: Any) -> Any:
    async with pool.connection() as conn:
        row = await (await conn.execute(sql, params)).fetchone()
        assert row is not None
        return row[0]


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def open_session_for(pool: AsyncConnectionPool, identity: str) -> int:
    """Opens the session the collector will reuse, so a test can subscribe before the replay."""
    async with pool.connection() as conn:
        row = await timing.open_session(
            conn,
            provider_identity=identity,
            session_name="Session_test",
            provider_program="SimpleClient",
            provider_version="0.6.0",
        )
    return row.id


async def collect(
    sub: Any, into: list[ReadBatch], on_message: Callable[[ReadBatch], Awaitable[None]]
) -> None:
    async for _channel, message in sub:
        batch = ReadBatch.from_json(message)
        await on_message(batch)
        into.append(batch)


async def test_a_synthetic_race_is_stored_and_published_after_commit(harness: Harness) -> None:
    pool = harness.pool
    session_id = await open_session_for(pool, RACE.connection_id)
    batches: list[ReadBatch] = []
    invisible: list[int] = []

    async def committed(batch: ReadBatch) -> None:
        # Published only after commit: another connection already sees every row.
        ids = [r.id for r in batch.reads]
        seen = await scalar(pool, "SELECT count(*) FROM timing_reads WHERE id = ANY(%s)", ids)
        if seen != len(ids):
            invisible.append(batch.reads[0].id)

    async with harness.bus.subscribe(session_channel(session_id)) as sub:
        listener = asyncio.create_task(collect(sub, batches, committed))
        result = await replay("127.0.0.1", harness.collector.tcp_port, [RACE])
        assert result.errors == {}
        assert result.total == RACE_READS

        async def all_published() -> bool:
            return sum(len(b.reads) for b in batches) >= RACE_READS

        await eventually(all_published)
        listener.cancel()

    rows = await scalar(pool, "SELECT count(*) FROM timing_reads WHERE session_id = %s", session_id)
    assert rows == RACE_READS
    assert invisible == []
    assert all(b.session_id == session_id and b.event_id is None for b in batches)
    published = [r.id for b in batches for r in b.reads]
    assert len(set(published)) == RACE_READS
    # Control reads are reads of the session too.
    guns = await scalar(
        pool,
        "SELECT count(*) FROM timing_reads WHERE session_id = %s AND tag_code = 'guntime'",
        session_id,
    )
    assert guns == 1
    iso = await scalar(
        pool, "SELECT read_time FROM timing_reads WHERE session_id = %s LIMIT 1", session_id
    )
    assert "T" in iso  # we asked for time-format=iso
    locations = await scalar(
        pool,
        "SELECT array_agg(location_name ORDER BY location_name) FROM timing_locations"
        " WHERE session_id = %s",
        session_id,
    )
    assert locations == ["FINISH", "START"]


async def test_a_reconnecting_provider_resumes_after_the_last_stored_seq(
    harness: Harness,
) -> None:
    port = harness.collector.tcp_port
    first = await replay("127.0.0.1", port, [RACE])
    collector = harness.collector
    await eventually(lambda: _stored(collector, first.total))
    stream = load_streams([RACE])[0]
    last = {loc: max(r.seq for r in stream.reads if r.location == loc) for loc in stream.locations}
    provider = await RawProvider.connect(port, stream.connection_id, stream.locations)
    assert provider.starts == [f"start~{loc}~{last[loc] + 1}" for loc in stream.locations]
    provider.close()
    # The simulator honours it: nothing is sent again.
    second = await replay("127.0.0.1", port, [RACE])
    assert second.errors == {} and second.total == 0
    assert await scalar(harness.pool, "SELECT count(*) FROM timing_sessions") == 1


async def test_a_provider_that_ignores_resume_adds_no_row(harness: Harness) -> None:
    collector = harness.collector
    provider = await RawProvider.connect(collector.tcp_port, "restream")
    assert provider.starts == ["start"]
    provider.send(*(read(seq, tag=str(seq)) for seq in range(1, 6)))
    await provider.round_trip()
    await eventually(lambda: _stored(collector, 5))
    provider.close()

    again = await RawProvider.connect(collector.tcp_port, "restream")
    assert again.starts == ["start~FINISH~6"]
    # A provider that re-streams everything anyway.
    again.send(*(read(seq, tag=str(seq)) for seq in range(1, 7)))
    await again.round_trip()
    await eventually(lambda: _stored(collector, 6))

    async def settled() -> bool:
        return bool(collector.stats()["ingest"]["pending"] == 0)

    await eventually(settled)
    assert collector.stats()["ingest"]["duplicates"] == 5
    assert await scalar(harness.pool, "SELECT count(*) FROM timing_reads") == 6
    again.close()


async def test_sequence_gaps_are_counted_and_filled(harness: Harness) -> None:
    collector = harness.collector
    provider = await RawProvider.connect(collector.tcp_port, "gappy")
    provider.send(*(read(seq, tag=str(seq)) for seq in (1, 2, 3, 7, 8, 5)))
    await provider.round_trip()
    (point,) = collector.stats()["points"]
    (finish,) = point["locations"]
    assert point["identity"] == "gappy" and point["connected"] is True
    assert finish["gaps"] == 1 and finish["missing_reads"] == 2
    assert finish["gap_ranges"] == [[4, 4], [6, 6]]
    assert finish["reads"] == 6 and finish["distinct_tags"] == 6 and finish["last_seq"] == 5
    code, body = await http_get(collector.status_port, "/metrics")
    assert code == 200
    metrics = body.decode()
    assert (
        'racedisplay_location_missing_reads{identity="gappy",'
        f'session="{point["session"]}",location="FINISH"}} 2'
    ) in metrics
    assert 'racedisplay_point_connected{identity="gappy"' in metrics
    provider.close()
    await eventually(lambda: _stored(collector, 6))

    # Resumed after 8; a provider that continues at 12 leaves 9-11 missing.
    again = await RawProvider.connect(collector.tcp_port, "gappy")
    assert again.starts == ["start~FINISH~9"]
    again.send(read(12, tag="12"))
    await again.round_trip()
    (finish,) = collector.stats()["points"][0]["locations"]
    assert finish["missing_reads"] == 5 and finish["gap_ranges"][-1] == [9, 11]
    again.close()


async def test_a_claimed_session_publishes_on_its_event_channel(harness: Harness) -> None:
    pool = harness.pool
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "harbor-timing", "Harbor Timing")
        event = await catalog.create_event(
            conn, tenant_id=tenant.id, name="Harbor 10K", ct_event_id="EV-2291"
        )
    batches: list[ReadBatch] = []

    async def nothing(_batch: ReadBatch) -> None:
        return None

    async with harness.bus.subscribe(event_channel(event.id)) as sub:
        listener = asyncio.create_task(collect(sub, batches, nothing))
        info = ProviderInfo(event_name="Harbor 10K", event_id="EV-2291")
        result = await replay("127.0.0.1", harness.collector.tcp_port, [RACE], info=info)

        async def all_published() -> bool:
            return sum(len(b.reads) for b in batches) >= result.total

        await eventually(all_published)
        listener.cancel()
    assert {(b.tenant_id, b.event_id) for b in batches} == {(tenant.id, event.id)}
    port = harness.collector.status_port
    mine = json.loads((await http_get(port, f"/status?event_id={event.id}"))[1])
    assert [p["event_id"] for p in mine["points"]] == [event.id]
    assert [p["event_id"] for p in mine["providers"]] == [event.id] * len(mine["providers"])
    other = json.loads((await http_get(port, f"/status?event_id={event.id + 1}"))[1])
    assert other["points"] == [] and other["providers"] == []
    assert (await http_get(port, "/status?event_id=x"))[0] == 400
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT tenant_id, event_id, ct_event_id, ct_event_name FROM timing_sessions"
            )
        ).fetchone()
    assert row == (tenant.id, event.id, "EV-2291", "Harbor 10K")


async def test_an_events_reads_reach_its_channel_in_id_order_across_sessions(
    harness: Harness,
) -> None:
    """Displays feed an event's reads by id: two providers' reads stored in one commit must
    not come as two messages whose ids interleave."""
    pool = harness.pool
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "twin-timing", "Twin Timing")
        event = await catalog.create_event(
            conn, tenant_id=tenant.id, name="Twin 10K", ct_event_id="EV-TWIN"
        )
    batches: list[ReadBatch] = []

    async def nothing(_batch: ReadBatch) -> None:
        return None

    async with harness.bus.subscribe(event_channel(event.id)) as sub:
        listener = asyncio.create_task(collect(sub, batches, nothing))
        port = harness.collector.tcp_port
        left = await RawProvider.connect(port, "twin-left", ct_event_id="EV-TWIN")
        right = await RawProvider.connect(port, "twin-right", ct_event_id="EV-TWIN")
        for seq in range(1, 201):
            left.send(read(seq, tag=str(1000 + seq)))
            right.send(read(seq, tag=str(2000 + seq)))
        await left.round_trip()
        await right.round_trip()

        async def all_published() -> bool:
            return sum(len(b.reads) for b in batches) >= 400

        await eventually(all_published)
        listener.cancel()
        left.close()
        right.close()
    ids = [r.id for b in batches for r in b.reads]
    assert len(ids) == 400 and ids == sorted(ids)
    # And the commits did mix the two sessions, or this would prove nothing.
    assert any(len({r.session_id for r in b.reads}) == 2 for b in batches)


async def test_status_and_health(harness: Harness) -> None:
    collector = harness.collector
    await replay("127.0.0.1", collector.tcp_port, [RACE])

    async def stored() -> bool:
        return collector.stats()["total_reads"] == RACE_READS

    await eventually(stored)
    code, body = await http_get(collector.status_port, "/status")
    assert code == 200
    status = json.loads(body)
    assert status["service"] == "racedisplay-collector"
    assert status["status"] == "running"
    assert status["tcp_port"] == collector.tcp_port
    assert status["connections"] == 0
    assert status["total_reads"] == RACE_READS
    assert status["current_session"].startswith("Session_")
    assert status["database_connected"] is True
    assert await http_get(collector.status_port, "/health") == (200, b"ok\n")
    assert (await http_get(collector.status_port, "/nope"))[0] == 404


class RawProvider:
    """A hand-driven CTP01 provider, for what the simulator never sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.starts: list[str] = []

    @classmethod
    async def connect(
        cls,
        port: int,
        connection_id: str,
        locations: tuple[str, ...] = ("FINISH",),
        *,
        ct_event_id: str = "T-1",
    ) -> RawProvider:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        p = cls(reader, writer)
        p.send("SimpleClient~0.6.0~CTP01")
        header = await p.line()
        for _ in range(int(header.split("~")[2])):
            await p.line()
        answers = {
            "getconnectionid": f"ack~getconnectionid~{connection_id}",
            "geteventinfo": f"ack~geteventinfo~Test~{ct_event_id}~",
            "getlocations": "ack~getlocations~" + "~".join(locations),
        }
        while not (command := await p.line()).startswith("start"):
            p.send(answers[command])
        # Every start line of one location each, or one plain start.
        p.starts = [command]
        while command != "start" and len(p.starts) < len(locations):
            command = await p.line()
            p.starts.append(command)
        return p

    def send(self, *lines: str) -> None:
        self.writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def line(self) -> str:
        return (await asyncio.wait_for(self.reader.readline(), 10)).decode().strip()

    async def round_trip(self) -> None:
        """A ping answered means every line sent before it has been handled."""
        self.send("ping")
        while await self.line() != "ack~ping":
            pass

    def close(self) -> None:
        self.writer.close()


def read(seq: int, tag: str = "1187", time: str = "2026-10-05T08:21:44.90") -> str:
    return f"CT01_33~{seq}~FINISH~{tag}~{time}~1~0D4E5F~2"


async def test_malformed_lines_are_counted_and_the_connection_stays_up(harness: Harness) -> None:
    collector = harness.collector
    provider = await RawProvider.connect(collector.tcp_port, "raw-1")
    provider.send(
        read(1),
        "CT01_33~x~FINISH~1187~08:21:44.90~1~0D4E5F~2",
        "CT01_33~2~FINISH~1187~25:61:00~1~0D4E5F~2",
        "complete nonsense",
        read(3, tag="2305", time="08:23:01.08"),
        read(4, tag="2306", time="1791188581.08"),
    )
    await provider.round_trip()
    providers = collector.stats()["providers"]
    assert len(providers) == 1
    conn = providers[0]
    assert conn["identity"] == "raw-1" and conn["program"] == "SimpleClient"
    assert conn["rejected"] == 3
    assert conn["rejected_by_reason"] == {"bad_seq": 1, "bad_time": 1, "unrecognised": 1}
    assert conn["reads"] == 3
    provider.send(read(5, tag="77"))
    await provider.round_trip()

    async def stored() -> bool:
        return collector.stats()["total_reads"] == 4

    await eventually(stored)
    assert collector.stats()["connections"] == 1
    # Kept for the operator with their raw bytes, connection and reason.
    async with harness.pool.connection() as db:
        rows = await (
            await db.execute(
                "SELECT r.reason, r.raw_line, r.peer, s.provider_identity"
                "  FROM timing_rejects r JOIN timing_sessions s ON s.id = r.session_id"
                " ORDER BY r.id"
            )
        ).fetchall()
    assert [(reason, bytes(raw)) for reason, raw, _peer, _who in rows] == [
        ("bad_seq", b"CT01_33~x~FINISH~1187~08:21:44.90~1~0D4E5F~2"),
        ("bad_time", b"CT01_33~2~FINISH~1187~25:61:00~1~0D4E5F~2"),
        ("unrecognised", b"complete nonsense"),
    ]
    assert {(peer, who) for _r, _raw, peer, who in rows} == {(conn["peer"], "raw-1")}
    assert collector.stats()["points"][0]["rejected"] == 3
    provider.close()


async def test_provider_identity_falls_back_to_program_at_host(harness: Harness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.collector.tcp_port)
    writer.write(b"SimpleClient~0.6.0~CTP01\r\n")
    # Answer nothing: after the ack timeout the collector starts anyway.
    while (await asyncio.wait_for(reader.readline(), 10)).strip() != b"start":
        pass
    writer.write((read(1) + "\r\n").encode())

    async def stored() -> bool:
        return harness.collector.stats()["total_reads"] == 1

    await eventually(stored)
    identity = await scalar(harness.pool, "SELECT provider_identity FROM timing_sessions")
    assert identity == "SimpleClient@127.0.0.1"
    writer.close()


async def test_reads_are_spooled_and_shown_while_the_database_is_away(
    db_url: str, pg_server_url: str, tmp_path: Path
) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    pool = AsyncConnectionPool(
        db_url,
        min_size=1,
        max_size=3,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True)
    bus = MemoryBus()
    settings = collector_settings(tmp_path, batch_max_rows=20, batch_max_ms=10)
    collector = Collector(settings, pool, bus, timeouts=Timeouts(acks=2.0))
    await collector.start()
    admin = await psycopg.AsyncConnection.connect(pg_server_url, autocommit=True)
    published: list[ReadBatch] = []

    async def nothing(_batch: ReadBatch) -> None:
        return None

    try:
        session_id = await open_session_for(pool, "outage")
        async with bus.subscribe(session_channel(session_id)) as sub:
            listener = asyncio.create_task(collect(sub, published, nothing))
            provider = await RawProvider.connect(collector.tcp_port, "outage")
            provider.send(read(1))
            await provider.round_trip()
            await eventually(lambda: _stored(collector, 1))

            await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )
            provider.send(*(read(seq, tag=str(seq)) for seq in range(2, 52)))
            await provider.round_trip()  # still reading while the database is away

            async def spooled() -> bool:
                return bool(collector.stats()["ingest"]["spooled"] == 50)

            await eventually(spooled)
            assert collector.stats()["total_reads"] == 1
            assert list((tmp_path / "spool").glob("segment-*.jsonl"))
            # Shown live meanwhile, as provisional reads without a database id.
            provisional = [r for b in published if b.provisional for r in b.reads]
            assert sorted(r.sequence_number for r in provisional) == list(range(2, 52))
            assert {r.id for r in provisional} == {0}
            code, _ = await http_get(collector.status_port, "/health")
            assert code == 503

            await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
            await eventually(lambda: _stored(collector, 51), within=30)

            def stored() -> list[int]:
                return sorted(r.sequence_number for b in published if not b.provisional
                              for r in b.reads)  # fmt: skip

            async def all_published() -> bool:
                return len(stored()) >= 51

            # Published after the commit that stored them: wait for the bus, not the table.
            await eventually(all_published, within=10)
            assert stored() == list(range(1, 52))
            listener.cancel()
            provider.close()
    finally:
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await admin.close()
        await collector.stop()
        await pool.close()
    assert collector.stats()["ingest"]["refused"] == 0
    assert not list((tmp_path / "spool").glob("segment-*.jsonl"))


async def _stored(collector: Collector, n: int) -> bool:
    return bool(collector.stats()["total_reads"] == n)


async def test_a_row_the_database_refuses_does_not_hold_back_the_others(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    session_id = await open_session_for(pool, "poison")
    now = datetime.now(UTC)

    def row(session: int, seq: int) -> NewRead:
        line = f"CT01_33~{seq}~FINISH~{seq}~08:21:44.90~1~0D4E5F~2"
        return NewRead(
            session, 0, seq, "FINISH", str(seq), "08:21:44.90", now, 1, "0D4E5F", 2, line, now
        )

    writer = IngestWriter(pool, MemoryBus(), Spool(tmp_path / "spool"), max_rows=8, max_ms=5)
    writer.start()
    # A session that does not exist breaks a foreign key: no retry can ever store it.
    await writer.put([row(session_id, 1), row(session_id, 2), row(10**9, 3), row(session_id, 4)])
    await writer.stop(grace=30)
    assert writer.stored == 3
    assert list(writer.refused) == []
    assert await scalar(pool, "SELECT count(*) FROM timing_reads") == 3
    # Kept as a reject, raw line and all, rather than lost.
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT reason, raw_line, session_id FROM timing_rejects")
        ).fetchall()
    # Its session breaks the foreign key of timing_rejects too, so it is kept without one.
    assert rows == [("refused_by_database", row(10**9, 3).raw_line.encode(), None)]


async def test_keepalive_pings_are_answered_by_the_simulator(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    settings = collector_settings(tmp_path, batch_max_ms=10)
    timeouts = Timeouts(acks=2.0, ping_interval=0.1, missed_pings=2)
    collector = Collector(settings, pool, MemoryBus(), timeouts=timeouts)
    await collector.start()
    try:
        # About 1.5 s of paced replay: a dozen pings, each of which must be answered.
        result = await replay(
            "127.0.0.1", collector.tcp_port, [SyntheticRace(40, seed=2)], speed=20, max_gap=0.5
        )
        assert result.errors == {}
        assert result.elapsed > 0.5
        await eventually(lambda: _stored(collector, result.total))
    finally:
        await collector.stop()
