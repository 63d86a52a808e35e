"""Who the announcer calls next: runners read at a mat, and finishes projected from split pace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.catalog import EventLocation

# Timing points a runner passes on the way to the finish: a projection starts from one of them.
SPLIT_KINDS = frozenset({"split", "announcer"})
# Fewer finishers than this from a split say too little about the time from there.
MIN_FINISHERS = 3
# A runner projected this long ago and still not at the finish has most likely stopped (or
# lost the chip): left out of the arrivals so they do not crowd out the runners coming now.
OVERDUE = timedelta(minutes=15)
LIST_SIZE = 30


@dataclass(frozen=True, slots=True)
class Progress:
    """One runner's way round the course: the first read at each timing point that counts."""

    participant_id: int
    # Location → first read there (after the gun; at a finish, after min_finish_s as well).
    first: Mapping[str, datetime]
    finished_at: datetime | None

    def last_read(self) -> tuple[str, datetime] | None:
        """The timing point read most recently, the finish included."""
        if not self.first:
            return None
        return max(self.first.items(), key=lambda item: (item[1], item[0]))

    def last_split(self, kinds: Mapping[str, str]) -> tuple[str, datetime] | None:
        """The split read most recently: where a projection starts."""
        seen = [(loc, at) for loc, at in self.first.items() if kinds.get(loc) in SPLIT_KINDS]
        if not seen:
            return None
        return max(seen, key=lambda item: (item[1], item[0]))


@dataclass(frozen=True, slots=True)
class Coming:
    participant_id: int
    # The runner's read at the announcer mat.
    at: datetime


@dataclass(frozen=True, slots=True)
class Projection:
    participant_id: int
    # The split the projection starts from, and the runner's read there.
    location: str
    seen_at: datetime
    # None: fewer than MIN_FINISHERS finished from that split yet ("no estimate yet").
    eta: datetime | None


def mat_choices(locations: Sequence[EventLocation]) -> list[str]:
    """The timing points an announcer can stand at: every one but the finish, course order."""
    ordered = sorted(locations, key=lambda loc: loc.position)
    return [loc.name for loc in ordered if loc.kind != "finish"]


def default_mat(locations: Sequence[EventLocation]) -> str | None:
    """An announcer mat if the event has one, else the last split, else the last point before
    the finish (the start, on a course without splits); None without any."""
    ordered = sorted(locations, key=lambda loc: loc.position)
    for kinds in ({"announcer"}, {"split"}, {"start"}):
        named = [loc.name for loc in ordered if loc.kind in kinds]
        if named:
            return named[-1]
    return None


class FirstReads:
    """Each known runner's first read at each timing point, folded in as reads arrive, so a
    view polled every few seconds adds the new reads instead of going over the whole day.

    As the displays count them: nothing before the gun, and at a finish nothing in the first
    min_finish_s after it (a course that starts on the finish mats). A runner with several
    chips is one runner; chips nobody wears are left out. Reads come in any order, and a
    read added twice changes nothing.
    """

    def __init__(
        self,
        owners: Mapping[str, int],
        kinds: Mapping[str, str],
        gun_at: datetime | None,
        min_finish_s: float = 0.0,
    ) -> None:
        self._owners = owners
        self._kinds = kinds
        self._gun_at = gun_at
        self._min_finish = timedelta(seconds=min_finish_s)
        self._first: dict[int, dict[str, datetime]] = {}
        # The oldest and newest reads added, any chip: the view's "as of" and its window.
        self.oldest: datetime | None = None
        self.newest: datetime | None = None

    def add(self, reads: Iterable[tuple[str, str, datetime]]) -> None:
        """(location, normalised chip, read time) of reads, in any order."""
        owners, kinds, gun_at = self._owners, self._kinds, self._gun_at
        for location, chip, at in reads:
            if self.newest is None or at > self.newest:
                self.newest = at
            if self.oldest is None or at < self.oldest:
                self.oldest = at
            pid = owners.get(chip)
            if pid is None or (gun_at is not None and at < gun_at):
                continue
            finish = kinds.get(location) == "finish"
            if finish and gun_at is not None and at - gun_at < self._min_finish:
                continue
            seen = self._first.setdefault(pid, {})
            earlier = seen.get(location)
            if earlier is None or at < earlier:
                seen[location] = at

    def progress(self) -> dict[int, Progress]:
        """Each runner's progress now (valid until the next `add`)."""
        kinds = self._kinds
        out: dict[int, Progress] = {}
        for pid, seen in self._first.items():
            finishes = [at for loc, at in seen.items() if kinds.get(loc) == "finish"]
            out[pid] = Progress(pid, seen, min(finishes) if finishes else None)
        return out


def progress(
    reads: Iterable[tuple[str, str, datetime]],
    owners: Mapping[str, int],
    kinds: Mapping[str, str],
    gun_at: datetime | None,
    min_finish_s: float = 0.0,
) -> dict[int, Progress]:
    """Each known runner's first read at each point, from all the reads at once (see
    FirstReads)."""
    fold = FirstReads(owners, kinds, gun_at, min_finish_s)
    fold.add(reads)
    return fold.progress()


def coming_next(runners: Mapping[int, Progress], mat: str, limit: int = LIST_SIZE) -> list[Coming]:
    """Runners read at the mat and not yet at a finish, the newest read first."""
    coming = [
        Coming(p.participant_id, p.first[mat])
        for p in runners.values()
        if mat in p.first and p.finished_at is None
    ]
    coming.sort(key=lambda c: (c.at, c.participant_id), reverse=True)
    return coming[:limit]


def _median(values: list[timedelta]) -> timedelta:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def split_medians(
    runners: Mapping[int, Progress], kinds: Mapping[str, str]
) -> dict[str, timedelta | None]:
    """For each split read so far, the median time from it to the finish among the runners who
    finished; None where fewer than MIN_FINISHERS did."""
    times: dict[str, list[timedelta]] = {}
    for p in runners.values():
        for location, at in p.first.items():
            if kinds.get(location) not in SPLIT_KINDS:
                continue
            legs = times.setdefault(location, [])
            if p.finished_at is not None and p.finished_at > at:
                legs.append(p.finished_at - at)
    return {
        loc: _median(legs) if len(legs) >= MIN_FINISHERS else None for loc, legs in times.items()
    }


def project(
    runner: Progress, kinds: Mapping[str, str], medians: Mapping[str, timedelta | None]
) -> Projection | None:
    """Where a runner still out on the course should finish; None when finished or not seen at
    a split."""
    if runner.finished_at is not None:
        return None
    last = runner.last_split(kinds)
    if last is None:
        return None
    location, at = last
    median = medians.get(location)
    return Projection(runner.participant_id, location, at, None if median is None else at + median)


def projected_arrivals(
    runners: Mapping[int, Progress],
    kinds: Mapping[str, str],
    medians: Mapping[str, timedelta | None],
    as_of: datetime | None,
    limit: int = LIST_SIZE,
    overdue: timedelta = OVERDUE,
) -> list[Projection]:
    """The next runners expected at the finish, soonest first; those without an estimate after
    them, in the order they passed their split. `as_of` is the race's present (its newest read):
    a runner projected more than `overdue` before it is left out."""
    timed: list[Projection] = []
    untimed: list[Projection] = []
    for runner in runners.values():
        found = project(runner, kinds, medians)
        if found is None:
            continue
        if found.eta is None:
            untimed.append(found)
        elif as_of is None or found.eta >= as_of - overdue:
            timed.append(found)
    timed.sort(key=lambda p: (p.eta, p.participant_id))
    untimed.sort(key=lambda p: (p.seen_at, p.participant_id))
    return (timed + untimed)[:limit]
