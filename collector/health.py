"""Decoder health: per provider identity and location, what an operator watches at the line.

Kept per identity rather than per socket, so a point's counters survive its reconnects and
a main and a backup line of the same point show as one point with two connections.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.reads import CONTROL_TAGS, EXACT, STRIP_ZEROS, NewRead, normalize_tag

# A point with no read for this long is shown as silent (red): with the operations page's
# 2 s refresh, red shows within 30 s of the last read.
SILENT_AFTER_S = 25.0
# A read this far from when we received it means the decoder's clock is off.
SKEW_FLAG_S = 300.0
_SKEW_FLAG = timedelta(seconds=SKEW_FLAG_S)
# Distinct tags remembered per location; a garbage flood cannot grow it past this.
_MAX_TAGS = 100_000
_MAX_GAP_RANGES = 100
# Disconnected points are forgotten after this long, and beyond this many points.
_FORGET_AFTER_S = 24 * 3600.0
_MAX_POINTS = 2_000


class RateWindow:
    """Reads in the last 60 seconds, in one-second buckets."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()

    def add(self, now: float, count: int) -> None:
        second = int(now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += count
        else:
            buckets.append([second, count])
        while buckets and buckets[0][0] <= second - 60:
            buckets.popleft()

    def per_minute(self, now: float) -> int:
        cutoff = int(now) - 60
        return sum(count for second, count in self._buckets if second > cutoff)


class GapTracker:
    """Sequence numbers that never came: counted, kept as ranges, filled by late arrivals."""

    __slots__ = ("expected", "gaps", "missing", "ranges")

    def __init__(self) -> None:
        self.expected: int | None = None
        self.gaps = 0
        self.missing = 0
        self.ranges: deque[tuple[int, int]] = deque(maxlen=_MAX_GAP_RANGES)

    def resume_from(self, last_durable: int) -> None:
        """We asked for last_durable + 1: anything the provider skips after it is a gap."""
        if self.expected is None or self.expected <= last_durable:
            self.expected = last_durable + 1

    def see(self, seq: int) -> None:
        expected = self.expected
        if expected is None or seq == expected:
            self.expected = seq + 1
        elif seq > expected:
            self.gaps += 1
            self.missing += seq - expected
            self.ranges.append((expected, seq - 1))
            self.expected = seq + 1
        elif self.ranges:
            self._fill(seq)

    def _fill(self, seq: int) -> None:
        for i, (lo, hi) in enumerate(self.ranges):
            if lo <= seq <= hi:
                del self.ranges[i]
                parts = [(a, b) for a, b in ((lo, seq - 1), (seq + 1, hi)) if a <= b]
                for offset, part in enumerate(parts):
                    self.ranges.insert(i + offset, part)
                self.missing -= 1
                return


@dataclass(slots=True)
class LocationHealth:
    name: str
    reads: int = 0
    last_read_mono: float | None = None
    last_read_at: datetime | None = None
    last_seq: int | None = None
    rate: RateWindow = field(default_factory=RateWindow)
    # Distinct tags as read (case and spaces aside), and the same without leading zeros: the
    # point's event decides which spelling counts (its tag mode), and may be learnt later.
    tags: set[str] = field(default_factory=set)
    stripped: set[str] = field(default_factory=set)
    gaps: GapTracker = field(default_factory=GapTracker)

    def distinct(self, tag_mode: str) -> set[str]:
        """The distinct chips read here, spelled as the event's tag mode spells them."""
        return self.tags if tag_mode == EXACT else self.stripped


@dataclass(slots=True)
class PointHealth:
    identity: str
    session_id: int | None = None
    session_name: str | None = None
    tenant_id: int | None = None
    event_id: int | None = None
    program: str = ""
    version: str = ""
    peers: dict[str, datetime] = field(default_factory=dict)
    connected_since: datetime | None = None
    # Loop time of the latest connect: a point gets silent_after to send its first read.
    connected_mono: float = 0.0
    disconnected_at: datetime | None = None
    disconnected_mono: float | None = None
    close_reason: str | None = None
    clock_skew_s: float | None = None
    skewed_reads: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    locations: dict[str, LocationHealth] = field(default_factory=dict)

    def location(self, name: str) -> LocationHealth:
        loc = self.locations.get(name)
        if loc is None:
            loc = self.locations[name] = LocationHealth(name)
        return loc

    def record(self, reads: Sequence[NewRead], now: float) -> None:
        """A batch of accepted reads of this point (one connection's, in arrival order)."""
        if not reads:
            return
        by_location: dict[str, list[NewRead]] = {}
        for read in reads:
            by_location.setdefault(read.location_name, []).append(read)
        for name, group in by_location.items():
            loc = self.location(name)
            loc.reads += len(group)
            loc.rate.add(now, len(group))
            loc.last_read_mono = now
            loc.last_read_at = group[-1].received_at
            loc.last_seq = group[-1].sequence_number
            see = loc.gaps.see
            tags, stripped = loc.tags, loc.stripped
            for read in group:
                see(read.sequence_number)
                if len(tags) < _MAX_TAGS and read.tag_code not in CONTROL_TAGS:
                    exact = normalize_tag(read.tag_code, EXACT)
                    tags.add(exact)
                    stripped.add(normalize_tag(exact, STRIP_ZEROS))
        last = reads[-1]
        skew = (last.read_at - last.received_at).total_seconds()
        self.clock_skew_s = skew
        self.skewed_reads += sum(1 for r in reads if abs(r.read_at - r.received_at) > _SKEW_FLAG)

    def state(self, now: float, silent_after: float) -> str:
        if not self.peers:
            return "disconnected"
        last = max(
            (loc.last_read_mono or 0.0 for loc in self.locations.values()),
            default=0.0,
        )
        return "silent" if now - max(last, self.connected_mono) > silent_after else "ok"


class DecoderHealth:
    """Every provider identity this collector has seen, connected or not."""

    def __init__(self, silent_after: float = SILENT_AFTER_S) -> None:
        self.silent_after = silent_after
        self.points: dict[str, PointHealth] = {}
        # Event id → its participants' normalised chip codes, refreshed by the collector, and
        # the event's tag mode they are normalised under (strip_zeros when not known yet).
        self.chips: dict[int, set[str]] = {}
        self.tag_modes: dict[int, str] = {}

    def know_chips(self, event_id: int, tag_mode: str, chips: set[str]) -> None:
        """The event's chip codes and how they, and so the reads, are normalised."""
        self.tag_modes[event_id] = tag_mode
        self.chips[event_id] = chips

    def connected(
        self, identity: str, peer: str, program: str, version: str, mono: float = 0.0
    ) -> PointHealth:
        point = self.points.get(identity)
        if point is None:
            self._forget_old()
            point = self.points[identity] = PointHealth(identity)
        wall = datetime.now(UTC)
        if not point.peers:
            point.connected_since = wall
        point.peers[peer] = wall
        point.connected_mono = mono
        point.program, point.version = program, version
        point.disconnected_at = point.disconnected_mono = point.close_reason = None
        return point

    def disconnected(self, point: PointHealth, peer: str, reason: str | None, now: float) -> None:
        point.peers.pop(peer, None)
        if not point.peers:
            point.disconnected_at = datetime.now(UTC)
            point.disconnected_mono = now
            point.close_reason = reason

    def events_watched(self) -> set[int]:
        return {p.event_id for p in self.points.values() if p.event_id is not None}

    def _forget_old(self) -> None:
        if len(self.points) < _MAX_POINTS:
            return
        gone = sorted(
            (p for p in self.points.values() if not p.peers),
            key=lambda p: p.disconnected_mono or 0.0,
        )
        for point in gone[: max(1, len(gone) // 2)]:
            del self.points[point.identity]

    def expire(self, now: float) -> None:
        for identity, point in list(self.points.items()):
            if point.disconnected_mono is not None and now - point.disconnected_mono > (
                _FORGET_AFTER_S
            ):
                del self.points[identity]

    # -- views --------------------------------------------------------------------------------

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        """The JSON of /status "points" (the app's timing-operations page reads it)."""
        return [self._point_view(p, now) for p in self.points.values()]

    def _point_view(self, p: PointHealth, now: float) -> dict[str, Any]:
        chips = self.chips.get(p.event_id) if p.event_id is not None else None
        mode = STRIP_ZEROS if p.event_id is None else self.tag_modes.get(p.event_id, STRIP_ZEROS)
        connected = bool(p.peers)
        return {
            "identity": p.identity,
            "session_id": p.session_id,
            "session": p.session_name,
            "tenant_id": p.tenant_id,
            "event_id": p.event_id,
            "program": p.program or None,
            "version": p.version or None,
            "state": p.state(now, self.silent_after),
            "connected": connected,
            "connections": len(p.peers),
            "peers": sorted(p.peers),
            "since": _iso(p.connected_since if connected else p.disconnected_at),
            "close_reason": p.close_reason,
            "clock_skew_s": None if p.clock_skew_s is None else round(p.clock_skew_s, 3),
            "skew_flagged": p.clock_skew_s is not None and abs(p.clock_skew_s) > SKEW_FLAG_S,
            "skewed_reads": p.skewed_reads,
            "rejected": sum(p.rejected.values()),
            "rejected_by_reason": dict(p.rejected),
            "locations": [
                self._location_view(loc, chips, mode, now)
                for loc in sorted(p.locations.values(), key=lambda loc: loc.name)
            ],
        }

    def _location_view(
        self, loc: LocationHealth, chips: set[str] | None, tag_mode: str, now: float
    ) -> dict[str, Any]:
        age = None if loc.last_read_mono is None else round(now - loc.last_read_mono, 1)
        tags = loc.distinct(tag_mode)
        return {
            "name": loc.name,
            "reads": loc.reads,
            "last_read_at": _iso(loc.last_read_at),
            "last_read_age_s": age,
            "silent": loc.last_read_mono is None or now - loc.last_read_mono > self.silent_after,
            "reads_per_minute": loc.rate.per_minute(now),
            "distinct_tags": len(tags),
            "unknown_chips": None if chips is None else sum(1 for t in tags if t not in chips),
            "gaps": loc.gaps.gaps,
            "missing_reads": loc.gaps.missing,
            "gap_ranges": [list(r) for r in loc.gaps.ranges],
            "last_seq": loc.last_seq,
        }

    def metrics(self, now: float) -> list[str]:
        """Prometheus exposition lines for every point and location."""
        views = self.snapshot(now)
        lines: list[str] = []
        for name, kind, help_, value in _POINT_METRICS:
            samples = [
                (_labels(identity=v["identity"], session=v["session"] or ""), value(v))
                for v in views
            ]
            lines += metric_lines(name, kind, help_, samples)
        for name, kind, help_, value in _LOCATION_METRICS:
            samples = [
                (
                    _labels(
                        identity=v["identity"], session=v["session"] or "", location=loc["name"]
                    ),
                    value(loc),
                )
                for v in views
                for loc in v["locations"]
            ]
            lines += metric_lines(name, kind, help_, samples)
        return lines


_View = dict[str, Any]
_Metric = tuple[str, str, str, Callable[[_View], float | None]]

_POINT_METRICS: tuple[_Metric, ...] = (
    ("racedisplay_point_connected", "gauge", "1 while a provider is connected.",
     lambda v: int(v["connected"])),
    ("racedisplay_point_connections", "gauge", "Live connections of the point (main, backup).",
     lambda v: v["connections"]),
    ("racedisplay_point_clock_skew_seconds", "gauge",
     "Read time minus receive time of the latest read.", lambda v: v["clock_skew_s"]),
    ("racedisplay_point_skewed_reads_total", "counter",
     f"Reads more than {SKEW_FLAG_S:.0f}s from their receive time.", lambda v: v["skewed_reads"]),
    ("racedisplay_point_rejected_lines_total", "counter", "Lines rejected as malformed.",
     lambda v: v["rejected"]),
)  # fmt: skip

_LOCATION_METRICS: tuple[_Metric, ...] = (
    ("racedisplay_location_reads_total", "counter", "Reads received.", lambda v: v["reads"]),
    ("racedisplay_location_last_read_age_seconds", "gauge", "Seconds since the last read.",
     lambda v: v["last_read_age_s"]),
    ("racedisplay_location_reads_per_minute", "gauge", "Reads in the last 60 seconds.",
     lambda v: v["reads_per_minute"]),
    ("racedisplay_location_distinct_tags", "gauge", "Distinct tags read.",
     lambda v: v["distinct_tags"]),
    ("racedisplay_location_unknown_chips", "gauge", "Distinct tags with no participant.",
     lambda v: v["unknown_chips"]),
    ("racedisplay_location_sequence_gaps_total", "counter", "Jumps in the sequence numbers.",
     lambda v: v["gaps"]),
    ("racedisplay_location_missing_reads", "gauge",
     "Sequence numbers skipped and not received since.", lambda v: v["missing_reads"]),
)  # fmt: skip


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN"
    return repr(value) if isinstance(value, float) else str(value)


def metric_lines(
    name: str, kind: str, help_: str, samples: Iterable[tuple[str, float | None]]
) -> list[str]:
    """One metric family; samples are (rendered labels, value), None values left out."""
    out = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples if value is not None)
    return out
