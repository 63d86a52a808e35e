"""An event's results computed from its chip reads: finish, gun and chip time, places."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from app.domain.participants_in import ResultRow, normalise_gender
from app.domain.reads import CONTROL_TAGS, STRIP_ZEROS, normalize_tag

RankBy = Literal["gun", "chip"]
# USATF rule 245: places go by gun time; chip time is the option for races that say so.
DEFAULT_RANK_BY: RankBy = "gun"
RANK_BY: tuple[RankBy, ...] = ("gun", "chip")
START, FINISH = "start", "finish"
# Participants in the race: anyone else (cancelled, transferred, deferred) gets no result,
# even if a chip they once held crosses a mat.
_IN_RACE = frozenset({"registered", "finished", "dnf", "dns"})
_NON_FINISHERS: tuple[Literal["dnf", "dns"], ...] = ("dnf", "dns")
_TENTH = timedelta(milliseconds=100)


@dataclass(frozen=True, slots=True)
class TimingRead:
    """A chip read at a timing point of the event (start- or finish-kind locations matter)."""

    session_id: int
    location_name: str
    tag_code: str
    read_at: datetime


@dataclass(frozen=True, slots=True)
class GunStart:
    """A `guntime` control read: the gun of one session at one location."""

    session_id: int
    location_name: str
    gun_at: datetime


@dataclass(frozen=True, slots=True)
class Entrant:
    """A participant as results need them; `chips` are the registered chip codes."""

    id: int
    bib: str
    first_name: str = ""
    last_name: str = ""
    gender: str = "U"
    age: int | None = None
    birth_date: date | None = None
    city: str = ""
    state: str = ""
    country: str = ""
    sub_event: str = ""
    status: str = "registered"
    source_id: str = ""
    chips: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placing:
    """One result line: what the results sites get (`row`) and what only our page shows."""

    row: ResultRow
    sub_event: str
    gender_place: int | None = None
    finish_at: datetime | None = None
    gun_at: datetime | None = None
    gun_elapsed: timedelta | None = None
    chip_elapsed: timedelta | None = None


def format_elapsed(value: timedelta) -> str:
    """H:MM:SS.d, cut (not rounded) to the tenth: a runner is never given a time they did not
    run."""
    tenths = max(value, timedelta(0)) // _TENTH
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    seconds, tenth = divmod(rest, 10)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{tenth}"


def format_time_of_day(value: datetime, zone: ZoneInfo) -> str:
    """The clock on the wall at the finish, H:MM:SS.d in the event's zone (no gun known)."""
    local = value.astimezone(zone)
    return f"{local.hour}:{local.minute:02d}:{local.second:02d}.{local.microsecond // 100_000}"


def _bib_key(bib: str) -> tuple[bool, int, str]:
    """Numeric bibs in number order (9 before 10), then the rest as text."""
    digits = bib.isdigit()
    return (not digits, int(bib) if digits else 0, bib)


def _chip_owners(
    entrants: Sequence[Entrant], chip_bibs: Mapping[str, str], tag_mode: str
) -> dict[str, Entrant]:
    """Chip code -> participant, as sql/queries/catalog.sql participants_by_chip resolves it:
    a registered chip first, else the chip file's bib if a participant wears it."""
    owners: dict[str, Entrant] = {}
    for e in entrants:
        for chip in e.chips:
            code = normalize_tag(chip, tag_mode)
            if code:
                owners.setdefault(code, e)
    by_bib = {e.bib: e for e in entrants}
    for chip, bib in chip_bibs.items():
        code = normalize_tag(chip, tag_mode)
        wearer = by_bib.get(bib)
        if code and wearer is not None and code not in owners:
            owners[code] = wearer
    return owners


class _Guns:
    """A read's gun: its session's gun at its location, else the event's first gun, else none.

    With several guns at one location (waves) the first is taken: wave starts are not told
    apart, so a later wave's gun time includes the wait (its chip time does not, given a start
    mat).
    """

    def __init__(self, guns: Iterable[GunStart]) -> None:
        self._at: dict[tuple[int, str], datetime] = {}
        first: datetime | None = None
        for g in guns:
            key = (g.session_id, g.location_name)
            if key not in self._at or g.gun_at < self._at[key]:
                self._at[key] = g.gun_at
            if first is None or g.gun_at < first:
                first = g.gun_at
        self._first = first

    def of(self, read: TimingRead) -> datetime | None:
        return self._at.get((read.session_id, read.location_name), self._first)


@dataclass(frozen=True, slots=True)
class _Finish:
    entrant: Entrant
    finish_at: datetime
    gun_at: datetime | None
    start_at: datetime | None

    @property
    def gun_elapsed(self) -> timedelta | None:
        return None if self.gun_at is None else self.finish_at - self.gun_at

    @property
    def chip_elapsed(self) -> timedelta | None:
        if self.start_at is not None:
            return self.finish_at - self.start_at
        return self.gun_elapsed


def _finish_of(
    entrant: Entrant,
    finishes: list[TimingRead],
    starts: list[TimingRead],
    guns: _Guns,
    min_finish: timedelta,
) -> _Finish | None:
    """The first finish read at least `min_finish` after its gun; the first start read
    between gun and it."""
    start_times = sorted(s.read_at for s in starts)
    for read in sorted(finishes, key=lambda r: (r.read_at, r.session_id, r.location_name)):
        gun = guns.of(read)
        if gun is not None and read.read_at < gun + min_finish:
            # Crossed the finish mat before the race began (warming up), or at the start
            # on a course that starts on the finish mats.
            continue
        start = next(
            (s for s in start_times if (gun is None or s >= gun) and s <= read.read_at), None
        )
        return _Finish(entrant, read.read_at, gun, start)
    return None


def _sort_key(
    f: _Finish, rank_by: RankBy
) -> tuple[bool, timedelta, datetime, tuple[bool, int, str]]:
    elapsed = f.chip_elapsed if rank_by == "chip" else f.gun_elapsed
    # No gun (and, by chip, no start mat): the finish instant orders them, as the clock did.
    return (elapsed is None, elapsed or timedelta(0), f.finish_at, _bib_key(f.entrant.bib))


def _row(
    e: Entrant,
    status: Literal["finished", "dnf", "dns"],
    place: int | None = None,
    chip_time: str = "",
    clock_time: str = "",
) -> ResultRow:
    return ResultRow(
        place=place,
        bib=e.bib,
        first_name=e.first_name,
        last_name=e.last_name,
        gender=normalise_gender(e.gender),
        age=e.age,
        chip_time=chip_time,
        clock_time=clock_time,
        city=e.city,
        state=e.state,
        country=e.country,
        birth_date=e.birth_date,
        status=status,
        # Athlinks wants an id per entry; a participant typed in by hand has only ours.
        source_id=e.source_id or f"rd-{e.id}",
    )


def compute_results(
    *,
    reads: Iterable[TimingRead],
    guns: Iterable[GunStart],
    entrants: Sequence[Entrant],
    chip_bibs: Mapping[str, str],
    location_kinds: Mapping[str, str],
    tag_mode: str = STRIP_ZEROS,
    time_zone: str = "UTC",
    rank_by: RankBy = DEFAULT_RANK_BY,
    min_finish_s: int = 0,
) -> list[Placing]:
    """Every finisher, then DNF and DNS, one ranking per sub-event (sub-events by name).

    A finish is the first read at a finish-kind location at or after the runner's gun (and
    at least `min_finish_s` after it, for courses that start on the finish mats); gun
    (clock) time is finish minus gun, chip time finish minus the first start-mat read (else
    the gun time). Without any gun the clock time is the time of day of the finish. Places
    (overall and per gender, M/F/X) go by `rank_by`, ties by finish instant then bib. Reads of
    chips nobody wears, control tags and reads at other locations are ignored; participants
    with no finish are left out unless their status is dnf or dns.
    """
    zone = ZoneInfo(time_zone)
    gun_of = _Guns(guns)
    owners = _chip_owners(entrants, chip_bibs, tag_mode)
    finishes: dict[int, list[TimingRead]] = defaultdict(list)
    starts: dict[int, list[TimingRead]] = defaultdict(list)
    for read in reads:
        if read.tag_code.strip().lower() in CONTROL_TAGS:
            continue
        kind = location_kinds.get(read.location_name)
        if kind not in (START, FINISH):
            continue
        entrant = owners.get(normalize_tag(read.tag_code, tag_mode))
        if entrant is None or entrant.status not in _IN_RACE:
            continue
        (finishes if kind == FINISH else starts)[entrant.id].append(read)

    by_sub: dict[str, list[_Finish]] = defaultdict(list)
    out_of_race: dict[str, list[Entrant]] = defaultdict(list)
    for e in entrants:
        done = _finish_of(
            e, finishes.get(e.id, []), starts.get(e.id, []), gun_of, timedelta(seconds=min_finish_s)
        )
        if done is not None:
            by_sub[e.sub_event].append(done)
        elif e.status in _NON_FINISHERS:
            out_of_race[e.sub_event].append(e)

    placings: list[Placing] = []
    for sub in sorted(set(by_sub) | set(out_of_race)):
        gender_counts: dict[str, int] = defaultdict(int)
        ranked = sorted(by_sub.get(sub, []), key=lambda f: _sort_key(f, rank_by))
        for place, f in enumerate(ranked, start=1):
            gender = normalise_gender(f.entrant.gender)
            gender_place = None
            if gender != "U":
                gender_counts[gender] += 1
                gender_place = gender_counts[gender]
            gun_elapsed, chip_elapsed = f.gun_elapsed, f.chip_elapsed
            clock = (
                format_elapsed(gun_elapsed)
                if gun_elapsed is not None
                else format_time_of_day(f.finish_at, zone)
            )
            chip = format_elapsed(chip_elapsed) if chip_elapsed is not None else clock
            placings.append(
                Placing(
                    row=_row(f.entrant, "finished", place, chip, clock),
                    sub_event=sub,
                    gender_place=gender_place,
                    finish_at=f.finish_at,
                    gun_at=f.gun_at,
                    gun_elapsed=gun_elapsed,
                    chip_elapsed=chip_elapsed,
                )
            )
        for status in _NON_FINISHERS:
            missing = [e for e in out_of_race.get(sub, []) if e.status == status]
            for e in sorted(missing, key=lambda e: _bib_key(e.bib)):
                placings.append(Placing(row=_row(e, status), sub_event=sub))
    return placings
