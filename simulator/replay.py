"""Replay sources over concurrent CTP01 connections, at a chosen speed or as fast as possible."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from simulator.chaos import ChaosOptions, ClockJump, stamp_us
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

    @property
    def garbage_lines(self) -> int:
        return sum(c.garbage_lines for c in self.connections)

    @property
    def resent(self) -> int:
        return sum(c.resent for c in self.connections)

    @property
    def drops(self) -> int:
        return sum(c.drops for c in self.connections)

    @property
    def connects(self) -> int:
        return sum(c.connects for c in self.connections)


def build_schedule(
    streams: Sequence[Stream],
    *,
    started: float,
    now_us: int,
    speed: float | None = None,
    max_gap: float | None = None,
    retime: bool = False,
    zone: tzinfo = UTC,
    clock_jump: ClockJump | None = None,
) -> Schedule:
    """When each read goes out (from loop time `started`) and the time it carries.

    The time is a function of the read alone (`now_us` is fixed for the replay), so a read
    sent again after a reconnect is the same line, and the collector keeps it once.
    """
    timeline = Timeline((r.epoch_us for s in streams for r in s.reads), speed or 1.0, max_gap)

    def recorded(read: SimRead) -> int:
        return read.epoch_us

    def live(read: SimRead) -> int:
        return now_us + int(timeline.offset(read) * 1e6)

    base = live if retime else recorded

    def jumped(read: SimRead) -> int:
        return stamp_us(read, base(read), clock_jump)

    return Schedule(
        send_offset=None if speed is None else timeline.offset,
        stamp=base if clock_jump is None else jumped,
        started=started,
        zone=zone,
    )


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
    chaos: ChaosOptions | None = None,
    reconnect: bool = False,
    linger: float | None = None,
    stop: asyncio.Event | None = None,
) -> SimulationResult:
    """Send every stream over its own connection, all at once.

    speed None sends as fast as the collector takes the reads (TCP pushes back); a number
    paces by read time (1.0 is real time). With retime, the time field says when the read
    is replayed (now plus its place on the timeline) instead of the recorded time, so a
    replay looks live and adds new rows instead of repeating stored ones.

    With reconnect, a connection that drops is made again (with backoff) and sends what the
    collector's new `start` asks; linger keeps each connection open that many seconds after
    its last read. Setting `stop` ends every connection and returns.
    """
    streams = load_streams(sources)
    loop = asyncio.get_running_loop()
    schedule = build_schedule(
        streams,
        started=loop.time(),
        now_us=to_epoch_us(datetime.now(UTC)),
        speed=speed,
        max_gap=max_gap,
        retime=retime,
        zone=zone,
        clock_jump=chaos.clock_jump if chaos is not None else None,
    )
    provider = info or ProviderInfo()
    providers = [
        SimulatedProvider(
            s, provider, schedule, chaos=chaos, reconnect=reconnect, linger=linger, stop=stop
        )
        for s in streams
    ]
    clock = time.perf_counter()
    # Cancelled, gather cancels every connection; each closes its socket on the way out.
    results = await asyncio.gather(*(p.run(host, port) for p in providers))
    return SimulationResult(list(results), time.perf_counter() - clock)
