"""The announcer view of a display: who is coming next at a mat, projected arrivals at the
finish, and a follow list of VIPs and ticked runners."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from app.db import announcer as reads_db
from app.db import catalog
from app.db.pool import Pool, tenant_connection
from app.domain import announcer as rules
from app.domain.catalog import Display
from app.domain.display_pipeline import Entrant, age_group, format_clock, format_elapsed
from app.domain.errors import NotFound
from app.services.live import NOT_AVAILABLE, DisplayHub, zone_of

# Reads older than this before the event's newest one are left out: a race day, not a season.
WINDOW_HOURS = 12
# Ticked runners a request may name (the rest are ignored).
MAX_FOLLOW = 100


@dataclass(frozen=True, slots=True)
class Entrants:
    """An event's participants who wear a chip: chip → participant id, and id → participant."""

    owners: dict[str, int]
    people: dict[int, Entrant]


@dataclass(slots=True)
class _Fold:
    """An event's runners' first reads as of read id `last_id`, under the settings `key`."""

    key: tuple[object, ...]
    last_id: int
    reads: rules.FirstReads


class AnnouncerCache:
    """What an event's announcer views share in this process, kept while it holds: the
    entrants (loaded again only after an import or a chip file) and the runners' first reads
    (to which a poll adds only the reads stored since the last one). A tablet polling every
    few seconds during a race then neither reloads the start list nor goes over the day's
    reads, which held up every screen of the worker meanwhile."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entrants: dict[tuple[int, int], tuple[tuple[object, ...], Entrants]] = {}
        self._folds: dict[tuple[int, int], _Fold] = {}

    def entrants(
        self, tenant_id: int, event_id: int, version: tuple[object, ...]
    ) -> Entrants | None:
        cached = self._entrants.get((tenant_id, event_id))
        return cached[1] if cached is not None and cached[0] == version else None

    def put_entrants(
        self, tenant_id: int, event_id: int, version: tuple[object, ...], entrants: Entrants
    ) -> None:
        if len(self._entrants) >= self._size:
            self._entrants.clear()
        self._entrants[(tenant_id, event_id)] = (version, entrants)

    def fold(self, tenant_id: int, event_id: int, key: tuple[object, ...]) -> _Fold | None:
        cached = self._folds.get((tenant_id, event_id))
        return cached if cached is not None and cached.key == key else None

    def put_fold(self, tenant_id: int, event_id: int, fold: _Fold) -> None:
        if len(self._folds) >= self._size:
            self._folds.clear()
        self._folds[(tenant_id, event_id)] = fold


def entrants_of(rows: Sequence[tuple[str, Entrant]]) -> Entrants:
    owners: dict[str, int] = {}
    people: dict[int, Entrant] = {}
    for chip, entrant in rows:
        owners[chip] = entrant.participant_id
        people[entrant.participant_id] = entrant
    return Entrants(owners, people)


@dataclass(frozen=True, slots=True)
class Row:
    """A runner as the announcer sees them: who they are, their read, their projected finish."""

    runner: Entrant
    age_group: str | None
    # The read shown (at the mat for "coming next", else the newest): point, time of day, time
    # since the gun ("" without a gun); all "" when the runner has not been read.
    where: str = ""
    clock: str = ""
    elapsed: str = ""
    # The projected finish and the split it is projected from; eta "" with estimate_from set
    # means "no estimate yet".
    estimate_from: str = ""
    eta_clock: str = ""
    eta_elapsed: str = ""
    finish_clock: str = ""
    finish_elapsed: str = ""
    followed: bool = False


@dataclass(frozen=True, slots=True)
class AnnouncerView:
    display: Display
    mats: list[str]
    mat: str | None
    coming: list[Row] = field(default_factory=list)
    projected: list[Row] = field(default_factory=list)
    followed: list[Row] = field(default_factory=list)
    finishers: int = 0
    # The etag of this view: the lists fragment answers 304 while it holds.
    version: str = ""


def parse_follow(text: str) -> list[int]:
    """Participant ids as the page sends them ("12,40,7"); anything else is ignored."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and len(part) <= 18 and int(part) not in ids:
            ids.append(int(part))
        if len(ids) >= MAX_FOLLOW:
            break
    return ids


async def _caught_up(
    conn: Any, display: Display, tag_mode: str, fold: _Fold, newest_id: int
) -> bool:
    """Adds the reads stored since the fold's last look. False when only a fresh fold is
    right: reads went away, or the window moved past a read it holds (more than WINDOW_HOURS
    into an event)."""
    if newest_id == fold.last_id:
        return True
    if newest_id < fold.last_id:
        return False
    fresh = await reads_db.reads_after(
        conn, display.tenant_id, display.event_id, tag_mode, fold.last_id
    )
    times = [at for _, _, at in fresh]
    if fold.reads.newest is not None:
        times.append(fold.reads.newest)
    if times:
        since = max(times) - timedelta(hours=WINDOW_HOURS)
        if fold.reads.oldest is not None and fold.reads.oldest < since:
            return False
        fold.reads.add(r for r in fresh if r[2] >= since)
    fold.last_id = newest_id
    return True


def _version(*parts: object) -> str:
    canonical = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2s(canonical.encode(), digest_size=12).hexdigest()


class _Times:
    def __init__(self, zone: tzinfo, gun_at: datetime | None) -> None:
        self.zone = zone
        self.gun_at = gun_at

    # To the second: an announcer reads these aloud, and a projection has no tenths to give.
    def clock(self, at: datetime) -> str:
        return format_clock(at, self.zone).partition(".")[0]

    def elapsed(self, at: datetime) -> str:
        if self.gun_at is None or at < self.gun_at:
            return ""
        return format_elapsed(at - self.gun_at).partition(".")[0]


def _row(
    runner: Entrant,
    progress: rules.Progress | None,
    kinds: Mapping[str, str],
    medians: Mapping[str, timedelta | None],
    times: _Times,
    followed: set[int],
    shown: tuple[str, datetime] | None = None,
) -> Row:
    values: dict[str, Any] = {
        "runner": runner,
        "age_group": age_group(runner.gender, runner.age),
        "followed": runner.participant_id in followed,
    }
    if progress is not None:
        read = shown or progress.last_read()
        if read is not None:
            values.update(where=read[0], clock=times.clock(read[1]), elapsed=times.elapsed(read[1]))
        if progress.finished_at is not None:
            values.update(
                finish_clock=times.clock(progress.finished_at),
                finish_elapsed=times.elapsed(progress.finished_at),
            )
        projection = rules.project(progress, kinds, medians)
        if projection is not None:
            values["estimate_from"] = projection.location
            if projection.eta is not None:
                values.update(
                    eta_clock=times.clock(projection.eta), eta_elapsed=times.elapsed(projection.eta)
                )
    return Row(**values)


def _follow_order(
    runner: Entrant, progress: rules.Progress | None, projection: rules.Projection | None
) -> tuple[int, float, str]:
    """Out on the course first (soonest projected, then newest read), then not read yet, then
    finished (the newest finish first)."""
    name = f"{runner.last_name} {runner.first_name}".lower()
    if progress is None:
        return (2, 0.0, name)
    if progress.finished_at is not None:
        return (3, -progress.finished_at.timestamp(), name)
    if projection is not None and projection.eta is not None:
        return (0, projection.eta.timestamp(), name)
    last = progress.last_read()
    return (1, -last[1].timestamp() if last else 0.0, name)


async def announcer_view(
    pool: Pool,
    hub: DisplayHub[Any],
    cache: AnnouncerCache,
    code: str,
    mat: str | None,
    follow: Sequence[int] = (),
    known_version: str = "",
) -> AnnouncerView | None:
    """What the announcer sees at this display's event; None when it is still `known_version`
    (nothing the lists show has changed since)."""
    display = await hub.display(code)
    gun_at = (await hub.state(code, plain=True)).snapshot.gun_at
    async with tenant_connection(pool, display.tenant_id) as conn:
        event = await catalog.get_event(conn, display.tenant_id, display.event_id)
        if event is None:
            raise NotFound(NOT_AVAILABLE)
        locations = await catalog.list_event_locations(conn, display.tenant_id, event.id)
        reads_version = await reads_db.reads_version(conn, display.tenant_id, event.id)
        entrants_version = await catalog.event_entrants_version(conn, display.tenant_id, event.id)
        mats = rules.mat_choices(locations)
        chosen = mat if mat in mats else rules.default_mat(locations)
        version = _version(
            display.id,
            event.tag_mode,
            event.min_finish_s,
            event.time_zone,
            [(loc.name, loc.kind, loc.position) for loc in locations],
            reads_version,
            entrants_version,
            gun_at,
            chosen,
            sorted(follow),
        )
        if known_version and known_version == version:
            return None
        entrants = cache.entrants(display.tenant_id, event.id, entrants_version)
        if entrants is None:
            entrants = entrants_of(await catalog.event_entrants(conn, display.tenant_id, event.id))
            cache.put_entrants(display.tenant_id, event.id, entrants_version, entrants)
        kinds = {loc.name: loc.kind for loc in locations}
        sessions, newest_id = reads_version
        key = (
            sessions,
            event.tag_mode,
            event.min_finish_s,
            gun_at,
            sorted(kinds.items()),
            entrants_version,
        )
        fold = cache.fold(display.tenant_id, event.id, key)
        if fold is None or not await _caught_up(conn, display, event.tag_mode, fold, newest_id):
            fold = _Fold(
                key, newest_id, rules.FirstReads(entrants.owners, kinds, gun_at, event.min_finish_s)
            )
            fold.reads.add(
                await reads_db.recent_reads(
                    conn, display.tenant_id, event.id, event.tag_mode, WINDOW_HOURS
                )
            )
            cache.put_fold(display.tenant_id, event.id, fold)
    runners = fold.reads.progress()
    medians = rules.split_medians(runners, kinds)
    times = _Times(zone_of(event.time_zone), gun_at)
    as_of = fold.reads.newest
    ticked = set(follow)

    def row(pid: int, shown: tuple[str, datetime] | None = None) -> Row:
        return _row(entrants.people[pid], runners.get(pid), kinds, medians, times, ticked, shown)

    coming = (
        [row(c.participant_id, (chosen, c.at)) for c in rules.coming_next(runners, chosen)]
        if chosen is not None
        else []
    )
    projected = [
        row(p.participant_id) for p in rules.projected_arrivals(runners, kinds, medians, as_of)
    ]
    wanted = {pid for pid, person in entrants.people.items() if person.vip}
    wanted.update(pid for pid in follow if pid in entrants.people)
    ordered = sorted(
        wanted,
        key=lambda pid: _follow_order(
            entrants.people[pid],
            runners.get(pid),
            None if pid not in runners else rules.project(runners[pid], kinds, medians),
        ),
    )
    return AnnouncerView(
        display=display,
        mats=mats,
        mat=chosen,
        coming=coming,
        projected=projected,
        followed=[row(pid) for pid in ordered],
        finishers=sum(1 for p in runners.values() if p.finished_at is not None),
        version=version,
    )


async def first_display(pool: Pool, tenant_id: int, event_id: int) -> Display:
    """The event's first display (the announcer view is reached through one)."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await catalog.get_event(conn, tenant_id, event_id)
        displays = await catalog.list_displays(conn, tenant_id, event_id) if event else []
    if event is None:
        raise NotFound("There is no such event.")
    if not displays:
        raise NotFound(
            "This event has no display yet. Create one on the event page: the announcer view "
            "opens at a display's address."
        )
    return displays[0]
