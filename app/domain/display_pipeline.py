"""One display's live events from its ordered read stream: pure, deterministic, no I/O."""

from __future__ import annotations

import copy
import re
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from app.domain.reads import CONTROL_TAGS, GUN_TAG, STRIP_ZEROS, StoredRead, normalize_tag

# How the pipeline works, and why (the module docstring stays one line):
#
# Reads are fed in read-id order and every event is a function of (rules, race, entrant
# lookup, the reads fed so far). Nothing looks at a wall clock or waits: a runner is emitted
# in the call that feeds their read. Arrival order is not crossing order (a third of adjacent
# finish reads go back in time, by up to ~6 s), so instead of holding reads back the pipeline
# puts each runner at its place by read time in the display's ordered finish list (`position`)
# and, for places, in per-category sorted lists; runners a late one passes are re-announced
# in a PlaceChanges event of the same call.
#
# Cost per shown read: O(log n) to find a place plus O(n) memmove to insert into the category
# lists (a C memmove: negligible at race sizes), O(recent_size) for the finish list, and O(k)
# for the k runners a late read passes (k is small when reads are at most seconds late; a read
# hours late passes everyone behind it, which is then what must be told to screens anyway).

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000
# A group of featured runners spans at most this much read time.
_GROUP_SPAN_US = 1_000_000
# Burst buckets older than this behind the newest read are forgotten (memory stays bounded);
# a read that late still gets a (fresh) bucket, so it is featured or not deterministically.
_BUCKET_KEEP_US = 600 * _SECOND_US

GENDERS_PLACED = frozenset({"M", "F", "X"})


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisplayRules:
    """What one display shows and how (from its settings)."""

    # Locations shown; empty shows every location.
    locations: frozenset[str] = frozenset()
    # A tag read again at the same location within this many seconds of read time is a repeat.
    duplicate_window_s: float = 5.0
    # How far behind the newest read a runner is still put at its read-time position.
    reorder_window_s: float = 10.0
    # Runners featured per second of read time; 0 is no limit. The rest go to the strip.
    max_per_second: int = 0
    # Featured runners within a second of read time are shown together.
    group: bool = False
    # A VIP is always featured, even in a full second.
    vips_first: bool = False
    # Chips nobody wears are shown as "Chip <code>" (never named, never placed) or hidden.
    show_unknown: bool = True
    # Length of the finish list and of the "also finished" strip a screen keeps.
    recent_size: int = 20
    # Finish reads of runners already placed (outside the duplicate window) are shown, flagged
    # `repeat`. On the real 2021 race they outnumber first finishes ten to one: runners stand
    # and walk on the mats after finishing.
    show_repeats: bool = True


@dataclass(frozen=True, slots=True)
class RaceContext:
    """The event the display belongs to: tag spelling, time zone, kinds of location, start."""

    tag_mode: str = STRIP_ZEROS
    zone: tzinfo = UTC
    start_locations: frozenset[str] = frozenset()
    finish_locations: frozenset[str] = frozenset()
    # The gun when no guntime read has arrived.
    event_start: datetime | None = None
    # A finish read sooner than this after the gun is a crossing, not a finish (not placed):
    # where start and finish share a line the runners cross the finish mat at the start.
    min_finish_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Entrant:
    """A participant as a display needs them."""

    participant_id: int
    bib: str
    first_name: str = ""
    last_name: str = ""
    # M, F, X or U (unknown): U gets no gender place and no age group.
    gender: str = "U"
    age: int | None = None
    sub_event: str = ""
    vip: bool = False
    city: str = ""
    team: str = ""
    # Custom registration fields, (name, value) sorted by name: a template can show them.
    custom: tuple[tuple[str, str], ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class EntrantLookup(Protocol):
    """Normalised chip code → entrant; a plain dict (or any Mapping) is one.

    The pipeline keeps a reference and reads it at each read, so the caller keeps it up to date
    (add chips before feeding their reads). What it answers is part of the pipeline's input:
    two pipelines agree only if their lookups answered alike for the reads they processed.
    """

    def get(self, chip: str, /) -> Entrant | None: ...


# --- what screens get ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Places:
    """Places within the runner's sub-event; None when not placed in that category."""

    overall: int | None = None
    gender: int | None = None
    age_group: int | None = None


NO_PLACES = Places()


@dataclass(frozen=True, slots=True)
class RunnerView:
    """One shown read. An unknown chip is "Chip <code as read>", has no bib and no places."""

    read_id: int
    # None for an unknown chip.
    participant_id: int | None
    name: str
    bib: str
    known: bool
    vip: bool
    gender: str
    age_group: str | None
    sub_event: str
    city: str
    team: str
    location: str
    read_at: datetime
    # The headline time: gun time, or the time of day when there is no gun ("clock").
    time: str
    time_basis: str
    # Elapsed since the gun and since the runner's start-mat read ("" without a gun).
    gun_time: str
    chip_time: str
    # "4:53/km" when the sub-event's name gives its distance, else "".
    pace: str
    places: Places
    # The read came more than reorder_window_s behind the newest read: shown as it arrives.
    late: bool = False
    # A later finish read of a runner already placed: shown, not placed again.
    repeat: bool = False
    first_name: str = ""
    last_name: str = ""
    custom: tuple[tuple[str, str], ...] = ()
    # The gun this runner's time counts from (None before one): a race clock follows it.
    gun_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlaceChange:
    participant_id: int
    places: Places


@dataclass(frozen=True, slots=True)
class Featured:
    """A runner takes the big slot. `group` holds the featured runners of that second of read
    time in read-time order (this runner included; just this runner without grouping).
    `position` is where the runner goes in the finish list (see `Snapshot.recent`)."""

    seq: int
    read_id: int
    runner: RunnerView
    group: tuple[RunnerView, ...]
    position: int


@dataclass(frozen=True, slots=True)
class AlsoFinished:
    """A runner of a full second: into the finish list at `position` and the strip at
    `strip_position`; never dropped."""

    seq: int
    read_id: int
    runner: RunnerView
    position: int
    strip_position: int


@dataclass(frozen=True, slots=True)
class PlaceChanges:
    """Runners already shown whose places moved because a faster late read was placed.

    A screen applies each change to every view of that participant that shows places."""

    seq: int
    read_id: int
    changes: tuple[PlaceChange, ...]


DisplayEvent = Featured | AlsoFinished | PlaceChanges


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a screen that (re)connects is given first; live events follow from last_seq + 1.

    `recent` and `also` are in display order (read time, late reads where they arrived), at
    most recent_size each; places are the current ones. A screen applies an event by inserting
    its runner at `position` and then dropping entries from the front beyond recent_size.
    """

    featured: tuple[RunnerView, ...]
    recent: tuple[RunnerView, ...]
    also: tuple[RunnerView, ...]
    # -1 before the first event.
    last_seq: int
    # 0 before the first read.
    last_read_id: int
    # The race's gun (the earliest), else the event's start; None before either: what a
    # race clock counts from.
    gun_at: datetime | None = None


# --- formatting ----------------------------------------------------------------------------
# Screen times: minutes under an hour, tenths truncated. Results files write H:MM:SS.d
# (app.domain.results), as the results sites want.


def format_elapsed(delta: timedelta) -> str:
    """1:02:03.4, or 12:03.4 under an hour; tenths are truncated as timers do."""
    tenths = delta // timedelta(milliseconds=100)
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    seconds, tenth = divmod(rest, 10)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{tenth}"
    return f"{minutes}:{seconds:02d}.{tenth}"


def format_clock(at: datetime, zone: tzinfo) -> str:
    """08:21:44.9 in the event's time zone."""
    local = at.astimezone(zone)
    return f"{local:%H:%M:%S}.{local.microsecond // 100_000}"


def format_pace(elapsed_us: int, km: float) -> str:
    """Minutes and seconds per kilometre, seconds truncated: 4:53/km."""
    seconds = int(elapsed_us / 1_000_000 / km)
    return f"{seconds // 60}:{seconds % 60:02d}/km"


_MILE_KM = 1.609344
_DISTANCE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(km|k|mi|miles?)\b", re.IGNORECASE)


def distance_km(sub_event: str) -> float | None:
    """The distance a sub-event's name gives: 10K, 5 km, 10 mi, Half, Marathon; else None."""
    name = sub_event.lower()
    if "half" in name:
        return 21.0975
    found = _DISTANCE.search(sub_event)
    if found is not None:
        value = float(found.group(1).replace(",", "."))
        unit = found.group(2).lower()
        km = value * _MILE_KM if unit.startswith("mi") else value
        return km if km > 0 else None
    if "marathon" in name:
        return 42.195
    return None


def age_group(gender: str, age: int | None) -> str | None:
    """Five-year groups by gender: M0-19, M20-24, …, M65-69, M70+; None without age/gender."""
    if age is None or gender not in GENDERS_PLACED:
        return None
    if age < 20:
        return f"{gender}0-19"
    if age >= 70:
        return f"{gender}70+"
    low = age - age % 5
    return f"{gender}{low}-{low + 4}"


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _US


# --- state ---------------------------------------------------------------------------------


# A category's finishers in place order: (gun time µs, read time µs, bib key, participant id).
_RankKey = tuple[int, int, tuple[bool, int, str], int]


def _bib_key(bib: str) -> tuple[bool, int, str]:
    """Ties on time go by bib number (9 before 10), as the results page breaks them."""
    digits = bib.isdigit()
    return (not digits, int(bib) if digits else 0, bib)


@dataclass(slots=True)
class _Placed:
    categories: tuple[tuple[object, ...], ...]
    places: Places


@dataclass(slots=True)
class _Ordered:
    """A list of runners in display order, keyed by (display time µs, seq), capped."""

    size: int
    keys: list[tuple[int, int]] = field(default_factory=list)
    views: list[RunnerView] = field(default_factory=list)

    def insert(self, key: tuple[int, int], view: RunnerView) -> int:
        at = bisect_right(self.keys, key)
        self.keys.insert(at, key)
        self.views.insert(at, view)
        if len(self.keys) > self.size:
            drop = len(self.keys) - self.size
            del self.keys[:drop]
            del self.views[:drop]
        return at


def _at(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / _SECOND_US, UTC)


class DisplayPipeline:
    """One display's events from the reads of its event, fed in read-id order.

    `feed(reads)` returns the events those reads cause, each with the next `seq`. Events
    depend only on the rules, the race context, what `entrants` answers, and the reads fed
    (in any batch split), so every worker and every reconnect that replays the same reads
    computes the same events with the same seqs. Reads with an id not above the last one fed
    are ignored (an overlapping catch-up is harmless); run provisional reads (id 0) through a
    `fork()`.
    """

    def __init__(self, rules: DisplayRules, race: RaceContext, entrants: EntrantLookup) -> None:
        self.rules = rules
        self.race = race
        self.entrants = entrants
        self._dup_us = int(rules.duplicate_window_s * _SECOND_US)
        self._reorder_us = int(rules.reorder_window_s * _SECOND_US)
        self._seq = -1
        self._last_read_id = 0
        # Guns: the first (earliest) per (session, location) and for the whole race, in µs.
        self._guns: dict[tuple[int, str], int] = {}
        self._race_gun: int | None = None
        self._event_start = None if race.event_start is None else _us(race.event_start)
        self._min_finish_us = int(race.min_finish_s * _SECOND_US)
        # Normalised tag → its start-mat read times (µs), sorted.
        self._starts: dict[str, list[int]] = {}
        # (location, tag) → read time (µs) of the last read kept there.
        self._kept: dict[tuple[str, str], int] = {}
        self._newest_us: int | None = None
        # Places: category → sorted rank keys; participant → its categories and places.
        self._ranks: dict[tuple[object, ...], list[_RankKey]] = {}
        self._placed: dict[int, _Placed] = {}
        # Burst policy: featured runners per second of read time.
        self._buckets: dict[int, int] = {}
        self._group: list[RunnerView] = []
        self._recent = _Ordered(rules.recent_size)
        self._also = _Ordered(rules.recent_size)
        self._km: dict[str, float | None] = {}
        self._shown = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def last_read_id(self) -> int:
        return self._last_read_id

    def feed(self, reads: Iterable[StoredRead]) -> list[DisplayEvent]:
        events: list[DisplayEvent] = []
        for read in reads:
            self._feed_one(read, events)
        return events

    def replay(self, reads: Iterable[StoredRead], keep_last: int = 0) -> list[DisplayEvent]:
        """Build the state from history; the last `keep_last` events are returned (for a
        resume buffer). Cost: as feeding them, O(n log n) for n reads plus the inserts; the
        real 2021 race (65,000 reads) replays in well under a second."""
        kept: deque[DisplayEvent] = deque(maxlen=keep_last)
        events: list[DisplayEvent] = []
        for read in reads:
            self._feed_one(read, events)
            if events:
                if keep_last:
                    kept.extend(events)
                events.clear()
        return list(kept)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            featured=tuple(self._current(v) for v in self._group),
            recent=tuple(self._current(v) for v in self._recent.views),
            also=tuple(self._current(v) for v in self._also.views),
            last_seq=self._seq,
            last_read_id=self._last_read_id,
            gun_at=self._gun_at(),
        )

    def _gun_at(self) -> datetime | None:
        return _at(self._race_gun if self._race_gun is not None else self._event_start)

    def places_of(self, participant_id: int) -> Places | None:
        placed = self._placed.get(participant_id)
        return None if placed is None else placed.places

    def fork(self) -> DisplayPipeline:
        """An independent copy of the state sharing the same entrant lookup."""
        memo: dict[int, object] = {id(self.entrants): self.entrants}
        return copy.deepcopy(self, memo)

    # -- one read -------------------------------------------------------------------------

    def _feed_one(self, read: StoredRead, events: list[DisplayEvent]) -> None:
        if read.id <= self._last_read_id:
            return
        self._last_read_id = read.id
        raw = read.tag_code.strip()
        lowered = raw.lower()
        location = read.location_name
        if lowered in CONTROL_TAGS:
            if lowered == GUN_TAG:
                self._set_gun(read.session_id, location, _us(read.read_at))
            return
        norm = normalize_tag(raw, self.race.tag_mode)
        if not norm:
            return
        at_us = _us(read.read_at)
        # Start-mat reads count for chip time whether or not the display shows the start; they
        # are shown only on a display that chose that location (a start-line screen).
        if location in self.race.start_locations:
            starts = self._starts.get(norm)
            if starts is None:
                self._starts[norm] = [at_us]
            elif at_us not in starts:
                insort(starts, at_us)
            if location not in self.rules.locations:
                return
        elif self.rules.locations and location not in self.rules.locations:
            return
        key = (location, norm)
        last = self._kept.get(key)
        if last is not None and abs(at_us - last) < self._dup_us:
            return
        self._kept[key] = at_us
        entrant = self.entrants.get(norm)
        if entrant is None and not self.rules.show_unknown:
            return
        self._show(read, raw, norm, at_us, entrant, events)

    def _set_gun(self, session_id: int, location: str, at_us: int) -> None:
        # The first gun counts, as on the results page: later waves are not told apart.
        key = (session_id, location)
        if key not in self._guns or at_us < self._guns[key]:
            self._guns[key] = at_us
        if self._race_gun is None or at_us < self._race_gun:
            self._race_gun = at_us

    def _gun_for(self, session_id: int, location: str) -> int | None:
        gun = self._guns.get((session_id, location))
        if gun is None:
            gun = self._race_gun if self._race_gun is not None else self._event_start
        return gun

    def _show(
        self,
        read: StoredRead,
        raw: str,
        norm: str,
        at_us: int,
        entrant: Entrant | None,
        events: list[DisplayEvent],
    ) -> None:
        location = read.location_name
        gun = self._gun_for(read.session_id, location)
        gun_us: int | None = None
        chip_us: int | None = None
        if gun is not None and at_us >= gun:
            gun_us = chip_us = at_us - gun
            start = self._start_for(norm, gun, at_us)
            if start is not None:
                chip_us = at_us - start
        if gun_us is None:
            headline, basis = format_clock(read.read_at, self.race.zone), "clock"
            gun_text = chip_text = ""
        else:
            gun_text = format_elapsed(timedelta(microseconds=gun_us))
            chip_text = gun_text
            if chip_us is not None and chip_us != gun_us:
                chip_text = format_elapsed(timedelta(microseconds=chip_us))
            headline, basis = gun_text, "gun"

        changes: list[PlaceChange] = []
        repeat = False
        places = NO_PLACES
        placed = None
        finish = location in self.race.finish_locations
        if entrant is not None and finish:
            placed = self._placed.get(entrant.participant_id)
            repeat = placed is not None
            if repeat and not self.rules.show_repeats:
                return

        newest = self._newest_us
        late = newest is not None and at_us < newest - self._reorder_us
        display_us = newest if late and newest is not None else at_us
        if newest is None or at_us > newest:
            self._newest_us = at_us

        if entrant is None:
            view = RunnerView(
                read_id=read.id,
                participant_id=None,
                name=f"Chip {raw}",
                bib="",
                known=False,
                vip=False,
                gender="",
                age_group=None,
                sub_event="",
                city="",
                team="",
                location=location,
                read_at=read.read_at,
                time=headline,
                time_basis=basis,
                gun_time=gun_text,
                chip_time=chip_text,
                pace="",
                places=NO_PLACES,
                late=late,
                gun_at=_at(gun),
            )
        else:
            group_label = age_group(entrant.gender, entrant.age)
            pid = entrant.participant_id
            if placed is not None:
                places = placed.places
            elif finish and gun_us is not None and gun_us >= self._min_finish_us:
                places = self._place(entrant, group_label, gun_us, at_us, changes)
            pace = ""
            if chip_us is not None:
                km = self._distance(entrant.sub_event)
                if km is not None:
                    pace = format_pace(chip_us, km)
            view = RunnerView(
                read_id=read.id,
                participant_id=pid,
                name=entrant.full_name or f"Bib {entrant.bib}",
                bib=entrant.bib,
                known=True,
                vip=entrant.vip,
                gender=entrant.gender,
                age_group=group_label,
                sub_event=entrant.sub_event,
                city=entrant.city,
                team=entrant.team,
                location=location,
                read_at=read.read_at,
                time=headline,
                time_basis=basis,
                gun_time=gun_text,
                chip_time=chip_text,
                pace=pace,
                places=places,
                late=late,
                repeat=repeat,
                first_name=entrant.first_name,
                last_name=entrant.last_name,
                custom=entrant.custom,
                gun_at=_at(gun),
            )

        self._shown += 1
        order_key = (display_us, self._shown)
        position = self._recent.insert(order_key, view)
        if self._featured(view, at_us):
            group = self._join_group(view, at_us)
            self._seq += 1
            events.append(Featured(self._seq, read.id, view, group, position))
        else:
            strip_position = self._also.insert(order_key, view)
            self._seq += 1
            events.append(AlsoFinished(self._seq, read.id, view, position, strip_position))
        if changes:
            self._seq += 1
            events.append(PlaceChanges(self._seq, read.id, tuple(changes)))

    def _start_for(self, norm: str, gun: int, at_us: int) -> int | None:
        """The first start-mat read at or after the gun and not after this read."""
        starts = self._starts.get(norm)
        if not starts:
            return None
        i = bisect_left(starts, gun)
        if i < len(starts) and starts[i] <= at_us:
            return starts[i]
        return None

    def _distance(self, sub_event: str) -> float | None:
        if sub_event not in self._km:
            self._km[sub_event] = distance_km(sub_event)
        return self._km[sub_event]

    # -- places ---------------------------------------------------------------------------

    def _place(
        self,
        entrant: Entrant,
        group_label: str | None,
        gun_us: int,
        at_us: int,
        changes: list[PlaceChange],
    ) -> Places:
        sub = entrant.sub_event
        pid = entrant.participant_id
        key: _RankKey = (gun_us, at_us, _bib_key(entrant.bib), pid)
        cats: list[tuple[object, ...]] = [("all", sub)]
        has_gender = entrant.gender in GENDERS_PLACED
        if has_gender:
            cats.append(("gender", sub, entrant.gender))
        if group_label is not None:
            cats.append(("age", sub, group_label))
        found: list[int | None] = [None, None, None]
        # Runners behind the new one move down one place in each shared category.
        moved: dict[int, list[int | None]] = {}
        for cat in cats:
            ranks = self._ranks.setdefault(cat, [])
            at = bisect_left(ranks, key)
            ranks.insert(at, key)
            slot = 0 if cat[0] == "all" else 1 if cat[0] == "gender" else 2
            found[slot] = at + 1
            for i in range(at + 1, len(ranks)):
                other = ranks[i][3]
                now = moved.get(other)
                if now is None:
                    old = self._placed[other].places
                    now = moved[other] = [old.overall, old.gender, old.age_group]
                now[slot] = i + 1
        places = Places(found[0], found[1], found[2])
        self._placed[pid] = _Placed(tuple(cats), places)
        for other, (overall, gender, age) in sorted(moved.items(), key=_by_overall):
            new = Places(overall, gender, age)
            self._placed[other].places = new
            changes.append(PlaceChange(other, new))
        return places

    def _current(self, view: RunnerView) -> RunnerView:
        # Only views that show places follow a PlaceChange: a split read, or a finish-line
        # crossing before the runner was placed, never carries places.
        if view.participant_id is None or view.places.overall is None:
            return view
        placed = self._placed.get(view.participant_id)
        if placed is None or placed.places == view.places:
            return view
        return replace(view, places=placed.places)

    # -- burst policy ---------------------------------------------------------------------

    def _featured(self, view: RunnerView, at_us: int) -> bool:
        limit = self.rules.max_per_second
        if limit <= 0:
            return True
        bucket = at_us // _SECOND_US
        count = self._buckets.get(bucket, 0)
        if count < limit or (self.rules.vips_first and view.vip):
            self._buckets[bucket] = count + 1
            if len(self._buckets) > 2 * _BUCKET_KEEP_US // _SECOND_US:
                self._prune_buckets()
            return True
        return False

    def _prune_buckets(self) -> None:
        assert self._newest_us is not None
        oldest = (self._newest_us - _BUCKET_KEEP_US) // _SECOND_US
        self._buckets = {b: n for b, n in self._buckets.items() if b >= oldest}

    def _join_group(self, view: RunnerView, at_us: int) -> tuple[RunnerView, ...]:
        """The featured runners within one second of read time of each other, this one in."""
        if self.rules.group and self._group:
            times = [_us(v.read_at) for v in self._group]
            if max(*times, at_us) - min(*times, at_us) <= _GROUP_SPAN_US:
                self._group.append(view)
                self._group.sort(key=lambda v: (v.read_at, v.read_id))
                return tuple(self._current(v) for v in self._group)
        self._group = [view]
        return (view,)


def _by_overall(item: tuple[int, list[int | None]]) -> tuple[int, int]:
    overall = item[1][0]
    return (overall if overall is not None else 0, item[0])


def entrant_lookup(entrants: Iterable[tuple[str, Entrant]], tag_mode: str) -> dict[str, Entrant]:
    """A lookup from (chip as registered, entrant) pairs, chips normalised; first chip wins."""
    out: dict[str, Entrant] = {}
    for chip, entrant in entrants:
        code = normalize_tag(chip, tag_mode)
        if code:
            out.setdefault(code, entrant)
    return out


__all__ = [
    "AlsoFinished",
    "DisplayEvent",
    "DisplayPipeline",
    "DisplayRules",
    "Entrant",
    "EntrantLookup",
    "Featured",
    "PlaceChange",
    "PlaceChanges",
    "Places",
    "RaceContext",
    "RunnerView",
    "Snapshot",
    "age_group",
    "distance_km",
    "entrant_lookup",
    "format_clock",
    "format_elapsed",
    "format_pace",
]
