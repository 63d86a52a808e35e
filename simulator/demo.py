"""The race `make run` plays: the real 2021 files when present, else a synthetic race, live."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, tzinfo
from pathlib import Path

from app.domain.reads import CONTROL_TAGS
from simulator.replay import SimulationResult, replay
from simulator.sources import ControllerFiles, Stream, SyntheticRace, list_tags, load_streams


@dataclass(frozen=True, slots=True)
class DemoRace:
    streams: tuple[Stream, ...]
    description: str
    speed: float
    max_gap: float

    @property
    def tags(self) -> set[str]:
        return list_tags(self.streams)

    @property
    def locations(self) -> list[str]:
        return sorted({loc for s in self.streams for loc in s.locations})

    async def run(self, host: str, port: int, zone: tzinfo = UTC) -> SimulationResult:
        """Stamped with the replay's own time, so every start shows live arrivals.

        `zone` must be the collector's TIMING_TIMEZONE, as for a real timing setup.
        """
        return await replay(
            host,
            port,
            self.streams,
            speed=self.speed,
            max_gap=self.max_gap,
            retime=True,
            zone=zone,
        )


def from_first_rush(
    streams: tuple[Stream, ...], window_s: float = 60.0, min_reads: int = 30
) -> tuple[Stream, ...]:
    """Drop the quiet morning before the first minute with min_reads reads, so a newcomer
    sees runners within seconds; gun reads are kept so times still count from the gun."""
    epochs = sorted(r.epoch_us for s in streams for r in s.reads if r.tag not in CONTROL_TAGS)
    window_us = int(window_s * 1e6)
    start = next(
        (
            epochs[i]
            for i in range(len(epochs) - min_reads + 1)
            if epochs[i + min_reads - 1] - epochs[i] <= window_us
        ),
        None,
    )
    if start is None:
        return streams
    trimmed = []
    for stream in streams:
        kept = [r for r in stream.reads if r.epoch_us >= start or r.tag in CONTROL_TAGS]
        renumbered = tuple(replace(r, seq=i) for i, r in enumerate(kept, start=1))
        trimmed.append(replace(stream, reads=renumbered))
    return tuple(trimmed)


def demo_race(data_dir: Path | None, *, speed: float = 5.0) -> DemoRace:
    if data_dir is not None and data_dir.is_dir():
        streams = from_first_rush(tuple(load_streams([ControllerFiles(data_dir, guntimes=True)])))
        reads = sum(len(s.reads) for s in streams)
        what = f"the 2021 ChronoTrack files ({len(streams)} timing points, {reads:,} reads)"
        return DemoRace(streams, f"{what} at {speed:g}x real time", speed, 10.0)
    streams = tuple(load_streams([SyntheticRace(600, seed=2021)]))
    return DemoRace(streams, f"a synthetic race of 600 runners at {speed:g}x real time", speed, 5.0)
