"""Replay sources over concurrent CTP01 connections, at a chosen speed or as fast as possible."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from simulator.client import ConnectionResult, ProviderInfo, Schedule, SimulatedProvider
from simulator.sources import SimRead, Source, Stream, load_streams, to_epoch_us


class Timeline:
    """Maps read epochs onto replay seconds: divided by `speed`, silences capped at `max_gap`.

    One timeline serves every connection of a replay, so the timing points stay in step.
    """

    def __init__(self, epochs: Iterable[int], speed: float = 1.0, max_gap: float | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._offsets: dict[int, float] = {}
        elapsed = 0.0
        previous: int | None = None
        for epoch in sorted(set(epochs)):
            if previous is not None:
                gap = (epoch - previous) / 1e6
                elapsed += gap if max_gap is None else min(gap, max_gap)
            self._offsets[epoch] = elapsed / speed
            previous = epoch
        self.duration = elapsed / speed

    def offset(self, read: SimRead) -> float:
        return self._offsets[read.epoch_us]


@dataclass(slots=True)
class SimulationResult:
    connections: list[ConnectionResult] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def reads_sent(self) -> dict[str, int]:
        return {c.connection_id: c.reads_sent for c in self.connections}

    @property
    def total(self) -> int:
        return sum(c.reads_sent for c in self.connections)

    @property
    def errors(self) -> dict[str, str]:
        return {c.connection_id: c.error for c in self.connections if c.error}

    @property
    def reads_per_second(self) -> float:
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


async def replay(
    host: str,
    port: int,
    sources: Sequence[Source | Stream],
    *,
    speed: float | None = None,
    max_gap: float | None = None,
    retime: bool = False,
    info: ProviderInfo | None = None,
    zone: tzinfo = UTC,
) -> SimulationResult:
    """Send every stream over its own connection, all at once.

    speed None sends as fast as the collector takes the reads (TCP pushes back); a number
    paces by read time (1.0 is real time). With retime, the time field says when the read
    is replayed (now plus its place on the timeline) instead of the recorded time, so a
    replay looks live and adds new rows instead of repeating stored ones.
    """
    streams = load_streams(sources)
    timeline = Timeline((r.epoch_us for s in streams for r in s.reads), speed or 1.0, max_gap)
    loop = asyncio.get_running_loop()
    started = loop.time()
    now_us = to_epoch_us(datetime.now(UTC))

    def recorded(read: SimRead) -> int:
        return read.epoch_us

    def live(read: SimRead) -> int:
        return now_us + int(timeline.offset(read) * 1e6)

    schedule = Schedule(
        send_offset=None if speed is None else timeline.offset,
        stamp=live if retime else recorded,
        started=started,
        zone=zone,
    )
    provider = info or ProviderInfo()
    clock = time.perf_counter()
    results = await asyncio.gather(
        *(SimulatedProvider(s, provider, schedule).run(host, port) for s in streams)
    )
    return SimulationResult(list(results), time.perf_counter() - clock)
