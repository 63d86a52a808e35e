"""The live display feed: bus reads in, one rendered frame per display event out, shared by
every screen of the display in this process.

A timeline runs `app.domain.display_pipeline` over one event's whole read stream in read-id
order, from the first read (replayed at start) to the live bus, under one set of display rules.
The pipeline is deterministic, so every app worker computes the same events with the same ids
(its sequence number plus one): a screen can reconnect to any worker and resume by
Last-Event-ID. Displays of an event with the same rules share one timeline.

Rendering belongs to the web layer (only it imports Jinja), yet a frame must be rendered once
per display event, not once per screen. So the web layer hands DisplayHub a `Renderer` when
it builds the hub; each display's feed renders its timeline's events through it (once for all
displays of the timeline) and fans the returned payload (bytes of an SSE frame) out to every
screen, keeping the recent frames for reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import catalog, timing
from app.db import templates as template_db
from app.db.pool import Connection, Pool, connection, tenant_connection
from app.domain.catalog import Display, Event, EventLocation
from app.domain.codes import is_display_code
from app.domain.display_pipeline import (
    DisplayEvent,
    DisplayPipeline,
    DisplayRules,
    Entrant,
    Places,
    RaceContext,
    Snapshot,
)
from app.domain.errors import AppError, NotFound, Unavailable
from app.domain.messages import Change as MessagesChange
from app.domain.messages import channel as messages_channel
from app.domain.reads import ReadBatch, StoredRead, event_channel
from app.domain.templates import Layout, parse_layout
from app.pubsub import Bus

log = logging.getLogger(__name__)

P = TypeVar("P")

NOT_AVAILABLE = "This display is not available."
# After a failed bus subscription or database call, wait this long before recovering.
_RETRY_S = 1.0
# Reads per page when a feed replays its event's history.
_HISTORY_PAGE = 10_000
# Provisional reads shown during a database outage, remembered so that their stored
# versions, published when the spool drains, are not offered to the same screens again.
_SHOWN_PROVISIONAL = 50_000
# How often a live feed re-reads its display, its event and the event's participants, so an
# edit made through any app process reaches screens already open.
_RECHECK_S = 10.0
# Rendered frames kept for other displays of the same event and rules (see DisplayHub).
_RENDERED = 10_000
# Where app processes tell each other that a display (or all displays of an event) changed.
CHANGES_CHANNEL = "display-changes"
# A display looked up by its code is reused this long, so a wall of screens polling every
# second costs a query a second, not one per poll; an edit made here clears it at once.
_LOOKUP_TTL_S = 1.0
# Every this many seconds each idle screen is told to send a heartbeat (a comment that keeps
# proxies from closing the stream and shows the screen its server is alive).
HEARTBEAT_S = 15.0
_LOOKUPS = 10_000
# Runners a screen keeps in its finish list and in its "also finished" strip.
RECENT_SIZE = 20


@dataclass(frozen=True, slots=True)
class Shown:
    """A display event with its number: the pipeline's seq + 1, or 0 for a provisional one
    (a read spooled while the database is away), which carries no id."""

    id: int
    event: DisplayEvent
    epoch: str

    @property
    def stream_id(self) -> str:
        """The SSE id, "<epoch>.<number>"; empty for a provisional event."""
        return f"{self.epoch}.{self.id}" if self.id else ""


@dataclass(frozen=True, slots=True)
class Look:
    """How a display is drawn: a saved version of its template, or the built-in board."""

    layout: Layout | None = None
    template_id: int | None = None
    version: int = 0


BUILT_IN = Look()


@dataclass(frozen=True, slots=True)
class DisplayState:
    """What a display shows now: the first paint of a page and every poll."""

    display: Display
    snapshot: Snapshot
    # The number of the last event reflected here; a stream resumes after it.
    position: int
    # Names the rules the events were numbered under and the look they were drawn in (see
    # epoch_of and _Feed.epoch).
    epoch: str
    # Provisional events shown since (a database outage): they change what is shown too.
    provisional: int = 0
    look: Look = BUILT_IN

    @property
    def cursor(self) -> str:
        """Where a stream opened by this page starts: "<epoch>.<position>"."""
        return f"{self.epoch}.{self.position}"

    @property
    def version(self) -> str:
        """Changes whenever what is shown changes (an ETag)."""
        return f"{self.cursor}-{self.provisional}"


class Renderer(Protocol[P]):
    """The web layer's templates: one frame per event, the whole board for a snapshot, and
    several frames as one write. An event's frame depends on the event and the look only
    (not on which display of those sharing them shows it): it is rendered once for all."""

    def event(self, display: Display, look: Look, shown: Shown) -> P: ...

    def board(self, state: DisplayState) -> P: ...

    def join(self, payloads: Sequence[P]) -> P: ...

    def messages_changed(self) -> P: ...


class Disconnected(Exception):
    """The screen fell behind (or the hub closed); it reconnects and resumes by event id."""


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; showing times in UTC", name)
        return ZoneInfo("UTC")


def display_rules(display: Display) -> DisplayRules:
    return DisplayRules(
        locations=frozenset(display.locations),
        duplicate_window_s=float(display.duplicate_window),
        reorder_window_s=float(display.reorder_window),
        max_per_second=display.max_per_second,
        group=display.group_runners,
        vips_first=display.vips_first,
        show_unknown=display.show_unknown,
        show_repeats=display.show_repeats,
        recent_size=RECENT_SIZE,
    )


def race_context(event: Event, locations: Sequence[EventLocation]) -> RaceContext:
    return RaceContext(
        tag_mode=event.tag_mode,
        zone=zone_of(event.time_zone),
        start_locations=frozenset(loc.name for loc in locations if loc.kind == "start"),
        finish_locations=frozenset(loc.name for loc in locations if loc.kind == "finish"),
        min_finish_s=float(event.min_finish_s),
    )


def epoch_of(rules: DisplayRules, race: RaceContext) -> str:
    """A short name for a display's rules: events are numbered anew when the rules change,
    so a screen's Last-Event-ID from before an edit must not be read as a number of now.
    Stable across processes (not Python's salted hash)."""
    canonical = json.dumps(
        {
            "locations": sorted(rules.locations),
            "rules": [
                rules.duplicate_window_s,
                rules.reorder_window_s,
                rules.max_per_second,
                rules.group,
                rules.vips_first,
                rules.show_unknown,
                rules.recent_size,
                rules.show_repeats,
            ],
            "race": [
                race.tag_mode,
                str(race.zone),
                sorted(race.start_locations),
                sorted(race.finish_locations),
                race.event_start.isoformat() if race.event_start else None,
                race.min_finish_s,
            ],
        },
        sort_keys=True,
    )
    return hashlib.blake2s(canonical.encode(), digest_size=4).hexdigest()


def parse_event_id(value: str) -> tuple[str, int] | None:
    """ "<epoch>.<number>" → (epoch, number); None for anything else."""
    epoch, dot, number = value.strip().partition(".")
    if not dot or not epoch or not number.isdigit():
        return None
    return epoch, int(number)


@dataclass(frozen=True, slots=True)
class _Frame(Generic[P]):
    id: int
    payload: P
    # A frame standing for the events of one batch of reads (one write per screen in a
    # burst, not one per runner): those events' own frames.
    parts: tuple[_Frame[P], ...] = ()


class _Beat:
    """Queued to an idle screen by the hub's heartbeat: time to send a heartbeat."""


_BEAT = _Beat()


class DisplayClient(Generic[P]):
    """One screen's connection: its catch-up frames first, then the live frames of its display."""

    def __init__(self, feed: _Feed[P], queue_limit: int) -> None:
        self._feed = feed
        self._queue_limit = queue_limit
        self._backlog: deque[P] = deque()
        # Unbounded so the end marker always fits; the limit is enforced in _offer.
        self._queue: asyncio.Queue[_Frame[P] | _Beat | None] = asyncio.Queue()
        # Events up to this id reached the screen already (through another worker, perhaps
        # one a little ahead of this one): they are not sent again.
        self._after = 0
        self._ended = False
        self._closed = False

    @property
    def dropped(self) -> bool:
        return self._ended

    def _offer(self, frame: _Frame[P]) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= self._queue_limit:
            log.info("screen of display %s fell behind; disconnecting it", self._feed.display.code)
            self._end()
            return
        self._queue.put_nowait(frame)

    def _end(self) -> None:
        """Stop this client without blocking anyone: it reads the marker and disconnects."""
        if self._ended:
            return
        self._ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._feed.clients.discard(self)

    def _beat(self) -> None:
        if not self._ended and self._queue.empty():
            self._queue.put_nowait(_BEAT)

    async def next(self, quiet_s: float | None = None) -> P | None:
        """The next frame; None when the hub's heartbeat comes first (time to send one), or
        after quiet_s seconds without a frame.

        A stream waits without a timeout of its own: a timer per screen per frame (what
        asyncio.wait_for costs) was work for every screen on every runner in a rush.
        """
        if self._backlog:
            return self._backlog.popleft()
        if quiet_s is None:
            return await self._take()
        try:
            async with asyncio.timeout(quiet_s):
                return await self._take()
        except TimeoutError:
            return None

    async def _take(self) -> P | None:
        while True:
            frame = await self._queue.get()
            if frame is None:
                raise Disconnected
            if isinstance(frame, _Beat):
                return None
            payload = self._unseen(frame)
            if payload is not None:
                return payload

    def ready(self, limit: int = 64) -> list[P]:
        """Frames queued already, without waiting: a stream writes them with the one it just
        took, so a burst costs one write per screen rather than one per runner."""
        out: list[P] = []
        while len(out) < limit:
            if self._backlog:
                out.append(self._backlog.popleft())
                continue
            try:
                frame = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if frame is None:
                self._queue.put_nowait(None)  # the end marker stays for next()
                break
            if isinstance(frame, _Beat):
                continue  # a frame is going out anyway
            payload = self._unseen(frame)
            if payload is not None:
                out.append(payload)
        return out

    def _unseen(self, frame: _Frame[P]) -> P | None:
        """What of a frame this screen has not had yet (it may have resumed ahead of here)."""
        if not 0 < frame.id <= self._after:
            if not frame.parts or frame.parts[0].id > self._after or not self._after:
                return frame.payload
            fresh = [p.payload for p in frame.parts if p.id > self._after]
            return self._feed.render.join(fresh) if fresh else None
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._feed.detach(self)


class _Timeline(Generic[P]):
    """One event under one set of rules in this process: one bus subscription, one pipeline,
    the recent events. Displays of that event with the same rules (same epoch) compute the
    same events, so they share it: a wall of screens over many displays costs one pipeline
    per rule set, not one per display."""

    def __init__(self, hub: DisplayHub[P], display: Display, race: RaceContext, epoch: str) -> None:
        self.hub = hub
        self.tenant_id = display.tenant_id
        self.event_id = display.event_id
        self.key = (display.event_id, epoch)
        self.race = race
        self.epoch = epoch
        # Feeds using this timeline; `feeds` are those that have joined and get its events.
        self.members: set[_Feed[P]] = set()
        self.feeds: set[_Feed[P]] = set()
        self.recent: deque[Shown] = deque(maxlen=hub._ring_size)
        # Normalised chip → entrant; the pipeline reads it, _changed updates it in place.
        self.entrants: dict[str, Entrant] = {}
        self.pipeline = DisplayPipeline(display_rules(display), race, self.entrants)
        self._entrants_version: tuple[object, ...] = ()
        self.provisional_shown = 0
        self._provisional: set[tuple[object, ...]] = set()
        self._provisional_order: deque[tuple[object, ...]] = deque()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Marks a start-up error as retrieved even when every waiter has gone away.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        name = f"{display.event_id}.{epoch}"
        self.task = asyncio.create_task(self._run(), name=f"display-timeline-{name}")
        self.watcher = asyncio.create_task(self._watch(), name=f"display-timeline-watch-{name}")

    @property
    def position(self) -> int:
        """The id of the last event (0 before the first)."""
        return self.pipeline.last_seq + 1

    def stop(self) -> None:
        self.task.cancel()
        if self.watcher is not asyncio.current_task():
            self.watcher.cancel()
        if not self.ready.done():
            self.ready.set_exception(Unavailable("the live feed of this display restarted"))

    async def _run(self) -> None:
        first = True
        channel = event_channel(self.event_id)
        notes = messages_channel(self.event_id)
        while True:
            try:
                async with self.hub._bus.subscribe(channel, notes) as sub:
                    # Subscribed before reading the database, so nothing falls in between.
                    if first:
                        await self._prime()
                        first = False
                    else:
                        await self._catch_up_live()
                    if not self.ready.done():
                        self.ready.set_result(None)
                    async for name, message in sub:
                        if name == notes:
                            self._on_messages_changed(message)
                        else:
                            self._on_message(message)
                log.warning("bus subscription of event %s ended", self.event_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.ready.done():
                    self.ready.set_exception(exc)
                    return
                log.warning(
                    "live feed of event %s failed (%r); recovering from the database",
                    self.event_id,
                    exc,
                )
            await asyncio.sleep(_RETRY_S)

    async def _prime(self) -> None:
        """The event's whole read history through the pipeline: the same state, places and
        ids as every other worker, and the recent events for screens that reconnect."""
        async with tenant_connection(self.hub._pool, self.tenant_id) as conn:
            self._entrants_version = await catalog.event_entrants_version(
                conn, self.tenant_id, self.event_id
            )
            self.entrants.update(await catalog.event_entrants(conn, self.tenant_id, self.event_id))
            after = 0
            while True:
                page = await timing.event_reads_after(
                    conn, self.tenant_id, self.event_id, after, limit=_HISTORY_PAGE
                )
                for past in self.pipeline.replay(page, keep_last=self.hub._ring_size):
                    self.recent.append(Shown(past.seq + 1, past, self.epoch))
                if len(page) < _HISTORY_PAGE:
                    break
                after = page[-1].id

    async def _catch_up_live(self) -> None:
        """After a lost subscription: what was committed meanwhile, through the live path."""
        while True:
            async with tenant_connection(self.hub._pool, self.tenant_id) as conn:
                reads = await timing.event_reads_after(
                    conn,
                    self.tenant_id,
                    self.event_id,
                    self.pipeline.last_read_id,
                    limit=_HISTORY_PAGE,
                )
            self._process(reads)
            if len(reads) < _HISTORY_PAGE:
                return

    def _on_message(self, message: bytes) -> None:
        try:
            batch = ReadBatch.from_json(message)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable read batch on the bus: %r", exc)
            return
        # Defence in depth: the channel is per event, but a display never shows foreign reads.
        if batch.tenant_id != self.tenant_id or batch.event_id != self.event_id:
            return
        if batch.provisional:
            self._process_provisional(batch.reads)
        else:
            self._process(batch.reads)

    def _on_messages_changed(self, message: bytes) -> None:
        """A message queue of the event changed: the screens it concerns refetch theirs now."""
        try:
            change = MessagesChange.from_json(message)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable message change on the bus: %r", exc)
            return
        for feed in list(self.feeds):
            if change.concerns(feed.display.id):
                feed.messages_changed()

    def _process(self, reads: Sequence[StoredRead]) -> None:
        """Stored reads in id order. Reads a screen here already saw provisionally still go
        through the pipeline (every worker must count them), but are not offered again."""
        seen = (
            {r.id for r in reads if _natural_key(r) in self._provisional}
            if self._provisional
            else set()
        )
        shown = [Shown(e.seq + 1, e, self.epoch) for e in self.pipeline.feed(reads)]
        if not shown:
            return
        self.recent.extend(shown)
        for feed in list(self.feeds):
            feed.deliver(shown, seen)

    def _process_provisional(self, reads: Sequence[StoredRead]) -> None:
        """Reads spooled while the database is away: shown now, through a copy of the pipeline
        (they come back with ids later and must not enter the real state twice)."""
        probe = self.pipeline.fork()
        base = probe.last_read_id
        numbered = [replace(r, id=base + i) for i, r in enumerate(reads, 1)]
        for read in reads:
            key = _natural_key(read)
            self._provisional.add(key)
            self._provisional_order.append(key)
            if len(self._provisional_order) > _SHOWN_PROVISIONAL:
                self._provisional.discard(self._provisional_order.popleft())
        shown = [Shown(0, e, self.epoch) for e in probe.feed(numbered)]
        self.provisional_shown += len(shown)
        for feed in list(self.feeds):
            feed.deliver_provisional(shown)

    async def _watch(self) -> None:
        """Now and then, re-read the event and its participants.

        A changed event (zone, tag mode, locations…) stops the timeline and its displays'
        feeds: their screens reconnect (an SSE screen by itself, a polling one at its next
        poll) to feeds built with the new settings. New or edited participants are loaded in
        place and count from the next read on. This reaches edits made through any app
        process; the editing process also stops its feeds at once.
        """
        await asyncio.wait({self.ready})
        if self.ready.cancelled() or self.ready.exception() is not None:
            return
        while True:
            await asyncio.sleep(self.hub._recheck_s)
            try:
                changed = await self._changed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The database is away: the timeline recovers by itself; check again later.
                log.debug("event %s settings check failed: %r", self.event_id, exc)
                continue
            if changed:
                log.info("event %s changed; restarting its live feeds", self.event_id)
                self.hub._stop_timeline(self)
                return

    async def _changed(self) -> bool:
        async with tenant_connection(self.hub._pool, self.tenant_id) as conn:
            event = await catalog.get_event(conn, self.tenant_id, self.event_id)
            if event is None:
                return True
            locations = await catalog.list_event_locations(conn, self.tenant_id, self.event_id)
            if race_context(event, locations) != self.race:
                return True
            version = await catalog.event_entrants_version(conn, self.tenant_id, self.event_id)
            if version != self._entrants_version:
                fresh = dict(await catalog.event_entrants(conn, self.tenant_id, self.event_id))
                # In place, between two awaits: the pipeline never sees a half-updated map.
                self.entrants.clear()
                self.entrants.update(fresh)
                self._entrants_version = version
        return False


class _Feed(Generic[P]):
    """One display in this process: its timeline's events rendered once each (shared with
    the other displays of the timeline), the recent frames, and its screens."""

    def __init__(
        self, hub: DisplayHub[P], display: Display, plain: bool = False, encoding: str = ""
    ) -> None:
        self.hub = hub
        self.display = display
        # Drawn in the built-in look whatever the display's template (the spectator page).
        self.plain = plain
        # Which of the hub's renderers draws it ("" the page's HTML; see DisplayHub).
        self.encoding = encoding
        self.render = hub._renders[encoding]
        self.key = _feed_key(display.code, plain, encoding)
        self.clients: set[DisplayClient[P]] = set()
        self.ring: deque[_Frame[P]] = deque()
        self.last_used = time.monotonic()
        self.reap_handle: asyncio.TimerHandle | None = None
        self.timeline: _Timeline[P] | None = None
        self.look = BUILT_IN
        self.epoch = ""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.task = asyncio.create_task(self._start(), name=f"display-feed-{display.code}")

    @property
    def position(self) -> int:
        """The id of the last event of this display (0 before the first)."""
        assert self.timeline is not None
        return self.timeline.position

    @property
    def covered_from(self) -> int:
        """Every event with a higher id is in the ring."""
        return self.ring[0].id - 1 if self.ring else self.position

    def state(self) -> DisplayState:
        timeline = self.timeline
        assert timeline is not None
        return DisplayState(
            self.display,
            timeline.pipeline.snapshot(),
            timeline.position,
            self.epoch,
            timeline.provisional_shown,
            self.look,
        )

    async def _start(self) -> None:
        """Join the timeline of this display's event and rules (starting it if need be), then
        watch the display's own settings."""
        try:
            d = self.display
            async with tenant_connection(self.hub._pool, d.tenant_id) as conn:
                event = await catalog.get_event(conn, d.tenant_id, d.event_id)
                if event is None:
                    raise NotFound(NOT_AVAILABLE)
                locations = await catalog.list_event_locations(conn, d.tenant_id, d.event_id)
                self.look = BUILT_IN if self.plain else await _look(conn, d)
            timeline = self.hub._timeline(self, race_context(event, locations))
            self.timeline = timeline
            self.epoch = _feed_epoch(timeline.epoch, self.look)
            await asyncio.shield(timeline.ready)
            # In one step with no await: the ring and the live events meet without a gap.
            for shown in self._drawn(timeline.recent):
                self._show(shown)
            timeline.feeds.add(self)
            self.ready.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.ready.set_exception(exc)
            return
        while True:
            await asyncio.sleep(self.hub._recheck_s)
            try:
                async with connection(self.hub._pool) as conn:
                    display = await catalog.get_display_by_code(conn, d.code)
                    look = self.look if display != d or self.plain else await _look(conn, d)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("display %s settings check failed: %r", d.code, exc)
                continue
            if display != d or look != self.look:
                log.info("display %s changed; restarting its feed", d.code)
                # Its screens reconnect at once: they must not meet the old display again.
                self.hub._lookups.pop(d.code, None)
                self.hub._stop(self)
                return

    def attach(self, client: DisplayClient[P]) -> None:
        self.clients.add(client)
        self.touch()

    def detach(self, client: DisplayClient[P]) -> None:
        self.clients.discard(client)
        self.touch()
        if not self.clients:
            self.hub._schedule_reap(self)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def stop(self) -> None:
        if self.task is not asyncio.current_task():
            self.task.cancel()
        if self.reap_handle is not None:
            self.reap_handle.cancel()
        for client in list(self.clients):
            client._end()
        self.clients.clear()

    def deliver(self, shown: Sequence[Shown], offered_before: set[int]) -> None:
        """A batch's events: each into the ring, and to the screens as one frame, but those
        of reads already offered here provisionally."""
        offered = []
        for s in self._drawn(shown):
            frame = self._show(s)
            if frame is not None and s.event.read_id not in offered_before:
                offered.append(frame)
        self._fan_out(offered)

    def messages_changed(self) -> None:
        """A frame without an id (it changes no event number): the page refetches messages."""
        self._fan_out([_Frame(0, self.render.messages_changed())])

    def deliver_provisional(self, shown: Sequence[Shown]) -> None:
        frames = [self.hub._frame(self, s) for s in self._drawn(shown)]
        self._fan_out([f for f in frames if f is not None])

    def _drawn(self, shown: Sequence[Shown]) -> Sequence[Shown]:
        """The timeline's events under this feed's epoch (which names its look too)."""
        if not shown or shown[0].epoch == self.epoch:
            return shown
        return [replace(s, epoch=self.epoch) for s in shown]

    def _show(self, shown: Shown) -> _Frame[P] | None:
        """The event's frame, kept in the ring for screens that reconnect."""
        frame = self.hub._frame(self, shown)
        if frame is None:
            return None
        if len(self.ring) >= self.hub._ring_size:
            self.ring.popleft()
        self.ring.append(frame)
        return frame

    def _fan_out(self, frames: list[_Frame[P]]) -> None:
        """The frames of one batch to every screen, as one frame (one write each)."""
        if not frames:
            return
        frame = frames[0]
        if len(frames) > 1:
            payload = self.render.join([f.payload for f in frames])
            frame = _Frame(frames[-1].id, payload, tuple(frames))
        for client in list(self.clients):
            client._offer(frame)


def _feed_key(code: str, plain: bool, encoding: str = "") -> str:
    return f"{code}{'+plain' if plain else ''}{'+' + encoding if encoding else ''}"


async def _look(conn: Connection, display: Display) -> Look:
    """The saved template version a display shows (built-in when it has none yet)."""
    if display.template_id is None:
        return BUILT_IN
    found = await template_db.display_layout(
        conn, display.tenant_id, display.template_id, display.template_version
    )
    if found is None:
        return BUILT_IN
    version, body = found
    try:
        layout = parse_layout(body)
    except AppError as exc:
        log.warning("template %s v%s cannot be drawn: %s", display.template_id, version, exc)
        return BUILT_IN
    return Look(layout, display.template_id, version)


def _feed_epoch(timeline_epoch: str, look: Look) -> str:
    """Events keep their numbers under any look, but a screen drawn in another look (the
    template changed) must get a whole board, not a resume: the look is part of the epoch."""
    if look.template_id is None:
        return timeline_epoch
    named = f"{timeline_epoch}:{look.template_id}.{look.version}"
    return hashlib.blake2s(named.encode(), digest_size=4).hexdigest()


def _natural_key(read: StoredRead) -> tuple[object, ...]:
    """What identifies a read before and after it is stored (the database id aside)."""
    return (read.session_id, read.location_name, read.sequence_number, read.tag_code, read.read_at)


class DisplayHub(Generic[P]):
    """Every live display of this app process, one feed per display code.

    A feed starts with its first screen (or poll) and joins the timeline of its event and
    rules (which subscribes to the event's bus channel and replays its reads, once for all
    displays sharing it), renders each display event once through the renderer, and keeps
    the recent frames so a screen that reconnects gets exactly what it missed (or, when that
    is too old, the whole board first). Each screen has a bounded queue; one that falls
    behind is disconnected and never slows the others. A feed with no screens stops after
    `idle_grace_s`, and a timeline with the last feed on it.
    """

    def __init__(
        self,
        pool: Pool,
        bus: Bus,
        render: Renderer[P],
        *,
        encodings: Mapping[str, Renderer[P]] | None = None,
        ring_size: int = 200,
        client_queue: int = 256,
        idle_grace_s: float = 30.0,
        recheck_s: float = _RECHECK_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._render = render
        # Other encodings of the same events (the JSON API's stream), by name: their feeds
        # share the timelines, so no pipeline runs twice for them.
        self._renders: dict[str, Renderer[P]] = {**(encodings or {}), "": render}
        self._ring_size = ring_size
        self._client_queue = client_queue
        self._idle_grace_s = idle_grace_s
        self._recheck_s = recheck_s
        self._heartbeat_s = heartbeat_s
        self._heartbeat: asyncio.TimerHandle | None = None
        self._feeds: dict[str, _Feed[P]] = {}
        self._timelines: dict[tuple[int, str], _Timeline[P]] = {}
        # Code → (until when it holds, the display or None for an unknown or revoked code).
        self._lookups: dict[str, tuple[float, Display | None]] = {}
        # Names this process on CHANGES_CHANNEL, so it skips its own announcements.
        self._origin = secrets.token_hex(8)
        self._listener: asyncio.Task[None] | None = None
        # Displays of one event under the same rules (the same epoch) compute the same events:
        # each is rendered once, for all of them (a wall of screens showing one finish line).
        self._rendered: OrderedDict[tuple[str, int, str, int], P] = OrderedDict()
        self._closed = False

    async def display(self, code: str) -> Display:
        """The display behind a public code; revoked and unknown codes are NotFound alike."""
        if not is_display_code(code):
            raise NotFound(NOT_AVAILABLE)
        now = time.monotonic()
        cached = self._lookups.get(code)
        if cached is not None and cached[0] > now:
            display = cached[1]
        else:
            async with connection(self._pool) as conn:
                display = await catalog.get_display_by_code(conn, code)
            if len(self._lookups) >= _LOOKUPS:
                self._lookups.clear()
            self._lookups[code] = (now + _LOOKUP_TTL_S, display)
        if display is None:
            raise NotFound(NOT_AVAILABLE)
        return display

    async def connect(
        self,
        code: str,
        last_event_id: str | None = None,
        *,
        plain: bool = False,
        encoding: str = "",
    ) -> DisplayClient[P]:
        """A screen joins: the events after last_event_id ("<epoch>.<number>"), then live ones.

        Without an id, with one older than the recent frames kept here, or with one numbered
        under other rules (the display was edited since), the screen gets the whole board first
        (a snapshot), then live events: never a gap, never a repeat. The caller must close()
        the client when the screen goes away. `plain`: in the built-in look, whatever the
        display's template (a phone, not the TV the template was made for). `encoding`: one
        of the hub's other renderers (see __init__), else the page's.
        """
        feed = await self._feed(code, plain, encoding)
        client = DisplayClient(feed, self._client_queue)
        resume = parse_event_id(last_event_id) if last_event_id else None
        if resume is not None and resume[0] == feed.epoch and resume[1] >= feed.covered_from:
            after = resume[1]
            client._after = after
            client._backlog.extend(f.payload for f in feed.ring if f.id > after)
        else:
            client._backlog.append(feed.render.board(feed.state()))
        # Registered in the same step as the ring was read: no frame is missed or doubled.
        feed.attach(client)
        return client

    async def state(self, code: str, *, plain: bool = False) -> DisplayState:
        """What the display shows now: for a first paint and for polling screens."""
        feed = await self._feed(code, plain)
        if not feed.clients:
            self._schedule_reap(feed)
        return feed.state()

    def screen_count(self, code: str) -> int:
        """Screens connected to a display in this process (its spectator pages too)."""
        return sum(len(f.clients) for f in self._feeds.values() if f.display.code == code)

    async def places_of(self, code: str, participant_id: int) -> Places | None:
        """A participant's places as the display computes them now (None: not placed)."""
        feed = await self._feed(code, plain=True)
        if not feed.clients:
            self._schedule_reap(feed)
        assert feed.timeline is not None
        return feed.timeline.pipeline.places_of(participant_id)

    async def close(self) -> None:
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        feeds = list(self._feeds.values())
        timelines = list(self._timelines.values())
        self._feeds.clear()
        self._timelines.clear()
        for feed in feeds:
            feed.stop()
        for timeline in timelines:
            timeline.stop()
        await asyncio.gather(
            *(f.task for f in feeds),
            *(t for tl in timelines for t in (tl.task, tl.watcher)),
            return_exceptions=True,
        )

    def reload(self, event_id: int, display_id: int | None = None) -> int:
        """Stop this process's feeds of an event (or of one display of it) after an edit;
        `announce` does it in every process.

        Their screens reconnect to feeds built from the edited settings. Returns the feeds
        stopped.
        """
        self._lookups.clear()
        stale = [
            f
            for f in self._feeds.values()
            if f.display.event_id == event_id and display_id in (None, f.display.id)
        ]
        for feed in stale:
            self._stop(feed)
        return len(stale)

    def _frame(self, feed: _Feed[P], shown: Shown) -> _Frame[P] | None:
        display = feed.display
        key = (feed.encoding, display.event_id, shown.epoch, shown.id)
        if shown.id:
            payload = self._rendered.get(key)
            if payload is not None:
                self._rendered.move_to_end(key)
                return _Frame(shown.id, payload)
        try:
            payload = feed.render.event(display, feed.look, shown)
        except Exception:
            log.exception("rendering event %s of display %s failed", shown.id, display.code)
            return None
        if shown.id:
            self._rendered[key] = payload
            if len(self._rendered) > _RENDERED:
                self._rendered.popitem(last=False)
        return _Frame(shown.id, payload)

    async def _feed(self, code: str, plain: bool = False, encoding: str = "") -> _Feed[P]:
        if self._closed:
            raise Unavailable("the server is shutting down")
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="display-changes")
            self._heartbeat = asyncio.get_running_loop().call_later(self._heartbeat_s, self._beat)
        # Looked up on every connect and poll, so a revoked or edited display takes effect.
        display = await self.display(code)
        if encoding not in self._renders:
            raise NotFound(f"No such encoding: {encoding}")
        feed = self._feeds.get(_feed_key(code, plain, encoding))
        if feed is not None and (feed.task.done() or feed.display != display):
            self._stop(feed)
            feed = None
        if feed is None:
            feed = _Feed(self, display, plain, encoding)
            self._feeds[feed.key] = feed
        feed.touch()
        try:
            await asyncio.shield(feed.ready)
        except AppError:
            self._stop(feed)
            raise
        except Exception as exc:
            self._stop(feed)
            raise Unavailable("the live feed of this display cannot start") from exc
        return feed

    async def announce(self, event_id: int, display_ids: Sequence[int] | None = None) -> None:
        """An edit was committed: restart the feeds of the event (or of those displays) here
        now, and in every other app process as soon as the bus delivers, so open screens
        redraw within a second. The 10 s settings check stays as the fallback."""
        for display_id in display_ids if display_ids is not None else [None]:
            self.reload(event_id, display_id)
        body = {"origin": self._origin, "event_id": event_id, "display_ids": display_ids}
        try:
            await self._bus.publish(CHANGES_CHANNEL, json.dumps(body).encode())
        except Exception as exc:
            log.warning("announcing a change of event %s failed: %r", event_id, exc)

    async def _listen(self) -> None:
        """Other processes' announcements (see announce)."""
        while True:
            try:
                async with self._bus.subscribe(CHANGES_CHANNEL) as sub:
                    async for _channel, message in sub:
                        self._on_change(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for display changes failed (%r); retrying", exc)
            await asyncio.sleep(_RETRY_S)

    def _on_change(self, message: bytes) -> None:
        try:
            body = json.loads(message)
            event_id = int(body["event_id"])
            display_ids = body.get("display_ids")
            targets = [None] if display_ids is None else [int(d) for d in display_ids]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable display change on the bus: %r", exc)
            return
        if body.get("origin") == self._origin:
            return
        for display_id in targets:
            self.reload(event_id, display_id)

    def _beat(self) -> None:
        """One timer for every screen of this process: each idle one sends a heartbeat."""
        for feed in self._feeds.values():
            for client in feed.clients:
                client._beat()
        self._heartbeat = asyncio.get_running_loop().call_later(self._heartbeat_s, self._beat)

    def _timeline(self, feed: _Feed[P], race: RaceContext) -> _Timeline[P]:
        """The timeline of a display's event and rules, started if none runs here."""
        display = feed.display
        epoch = epoch_of(display_rules(display), race)
        timeline = self._timelines.get((display.event_id, epoch))
        if timeline is None or timeline.task.done():
            timeline = _Timeline(self, display, race, epoch)
            self._timelines[timeline.key] = timeline
        timeline.members.add(feed)
        return timeline

    def _stop(self, feed: _Feed[P]) -> None:
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]
        feed.stop()
        timeline = feed.timeline
        if timeline is not None:
            timeline.feeds.discard(feed)
            timeline.members.discard(feed)
            if not timeline.members:
                self._stop_timeline(timeline)

    def _stop_timeline(self, timeline: _Timeline[P]) -> None:
        """A timeline and the feeds on it (their screens reconnect to fresh ones)."""
        if self._timelines.get(timeline.key) is timeline:
            del self._timelines[timeline.key]
        timeline.stop()
        for feed in list(timeline.members):
            self._stop(feed)

    def _schedule_reap(self, feed: _Feed[P]) -> None:
        if feed.reap_handle is not None and not feed.reap_handle.cancelled():
            return
        loop = asyncio.get_running_loop()
        feed.reap_handle = loop.call_later(self._idle_grace_s, self._reap, feed)

    def _reap(self, feed: _Feed[P]) -> None:
        feed.reap_handle = None
        if feed.clients or self._feeds.get(feed.key) is not feed:
            return
        idle = time.monotonic() - feed.last_used
        if idle < self._idle_grace_s:
            loop = asyncio.get_running_loop()
            feed.reap_handle = loop.call_later(self._idle_grace_s - idle, self._reap, feed)
            return
        log.info("display %s has no screens; stopping its feed", feed.display.code)
        self._stop(feed)
