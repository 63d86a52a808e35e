"""Providers that misbehave, and the ones beside them that must not notice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from tests.integration.test_collector import (
    Harness,
    RawProvider,
    _stored,
    eventually,
    harness,
    read,
    scalar,
)

__all__ = ["harness"]  # the fixture, used by name


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_a_main_and_a_backup_line_store_each_read_once(harness: Harness) -> None:
    collector = harness.collector
    main = await RawProvider.connect(collector.tcp_port, "point-A")
    backup = await RawProvider.connect(collector.tcp_port, "point-A")
    lines = [read(seq, tag=str(seq)) for seq in range(1, 51)]
    main.send(*lines)
    backup.send(*lines)
    await main.round_trip()
    await backup.round_trip()
    (point,) = collector.stats()["points"]
    assert point["connections"] == 2 and len(point["peers"]) == 2
    await eventually(lambda: _stored(collector, 50))
    assert await scalar(harness.pool, "SELECT count(*) FROM timing_sessions") == 1
    main.close()
    backup.close()


async def test_a_line_without_end_closes_only_its_connection(harness: Harness) -> None:
    collector = harness.collector
    good = await RawProvider.connect(collector.tcp_port, "good")
    bad = await RawProvider.connect(collector.tcp_port, "flood")
    before = rss_bytes()
    chunk = b"9" * 65_536
    try:
        for _ in range(160):  # 10 MB with no newline
            bad.writer.write(chunk)
            await bad.writer.drain()
    except ConnectionError:
        pass  # closed by the collector once the line passed its cap
    try:
        rest = await bad.reader.read()
    except ConnectionError:
        rest = b""  # closed with our bytes unread: a reset rather than a clean end
    assert rest == b""
    assert rss_bytes() - before < 32 * 2**20
    good.send(*(read(seq, tag=str(seq)) for seq in range(1, 11)))
    await good.round_trip()
    await eventually(lambda: _stored(collector, 10))
    rejects = await scalar(
        harness.pool, "SELECT string_agg(reason, ',') FROM timing_rejects WHERE peer <> ''"
    )
    assert rejects == "line_too_long"
    good.close()


async def test_a_million_garbage_lines_are_counted_in_bounded_memory(harness: Harness) -> None:
    collector = harness.collector
    good = await RawProvider.connect(collector.tcp_port, "good")
    bad = await RawProvider.connect(collector.tcp_port, "garbage")
    before = rss_bytes()
    garbage = b"".join(b"garbage line %d\r\n" % n for n in range(10_000))

    async def flood() -> None:
        for _ in range(100):
            bad.writer.write(garbage)
            await bad.writer.drain()
        await bad.round_trip()

    async def honest() -> None:
        for seq in range(1, 201):
            good.send(read(seq, tag=str(seq)))
            await good.writer.drain()
            await asyncio.sleep(0)
        await good.round_trip()

    await asyncio.gather(flood(), honest())
    await eventually(lambda: _stored(collector, 200))
    growth = rss_bytes() - before
    points = {p["identity"]: p for p in collector.stats()["points"]}
    assert points["garbage"]["rejected"] == 1_000_000
    assert points["good"]["rejected"] == 0
    # Every rejected line would be ~300 MB of objects; the flood is counted, its first
    # lines kept, and memory stays flat.
    assert growth < 64 * 2**20, f"grew {growth / 2**20:.0f} MiB"

    async def first_ones_stored() -> bool:
        return bool(await scalar(harness.pool, "SELECT count(*) FROM timing_rejects") == 10_000)

    await eventually(first_ones_stored, within=60)
    assert bad.writer.is_closing() is False  # still connected: garbage never closes a link
    good.close()
    bad.close()


async def test_hundreds_of_idle_sockets_do_not_crowd_out_a_provider(harness: Harness) -> None:
    collector = harness.collector
    idle = [await asyncio.open_connection("127.0.0.1", collector.tcp_port) for _ in range(300)]
    provider = await RawProvider.connect(collector.tcp_port, "real")
    provider.send(*(read(seq, tag=str(seq)) for seq in range(1, 101)))
    await provider.round_trip()
    await eventually(lambda: _stored(collector, 100))
    # Those that never greeted are closed oldest first; only a few are held at a time.
    assert collector.stats()["connections"] <= 20
    for _reader, writer in idle:
        writer.close()
    provider.close()
