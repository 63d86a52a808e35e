"""The live display feed: bus reads in, one rendered frame per runner out, shared by screens.

Rendering belongs to the web layer (only it imports Jinja), yet a frame must be rendered once
per display event, not once per screen. So the web layer hands DisplayHub a `render` callback
when it builds the hub; each display's feed calls it once per event and fans the returned
payload (bytes of an SSE frame) out to every screen, keeping the recent frames for reconnects.
The services layer stays template-free and the payload type is opaque to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import catalog, timing
from app.db.pool import Pool, connection, tenant_connection
from app.domain.catalog import Display, Event, Participant
from app.domain.codes import is_display_code
from app.domain.errors import AppError, NotFound, Unavailable
from app.domain.reads import (
    CONTROL_TAGS,
    STRIP_ZEROS,
    ReadBatch,
    StoredRead,
    event_channel,
    normalize_tag,
)
from app.pubsub import Bus

log = logging.getLogger(__name__)

P = TypeVar("P")

NOT_AVAILABLE = "This display is not available."
GUN_TAG = "guntime"
# After a failed bus subscription or database call, wait this long before recovering.
_RETRY_S = 1.0
# Read ids remembered to drop reads that reach a feed twice (a resubscribe overlapping a
# catch-up from the database); far more than arrive in one retry interval.
_SEEN_IDS = 20_000
# Provisional reads shown during a database outage, remembered so that their stored
# versions, published when the spool drains, are not shown a second time.
_SHOWN_PROVISIONAL = 50_000
# How often a live feed re-reads its display and event, so an edit made through any app
# process (show unknown chips, locations, time zone, tag mode) reaches screens already open.
_RECHECK_S = 10.0


@dataclass(frozen=True, slots=True)
class RunnerView:
    """What a screen shows for one read: never a name the participant list does not give.

    An unknown chip is named by its chip code ("Chip 9573") and has no bib: a chip code is
    not a bib, and presenting it as one was the predecessor's defect.
    """

    name: str
    # The participant's bib; empty for an unknown chip.
    bib: str
    time: str
    # "gun": elapsed since the event's guntime read; "clock": time of day in the event's zone.
    time_basis: str
    location: str
    known: bool
    # The participant list could not be read (database away): unknown is not established.
    unresolved: bool = False


@dataclass(frozen=True, slots=True)
class DisplayEvent:
    """One runner on one display; id is the read id, so Last-Event-ID resumes by read."""

    id: int
    runner: RunnerView


@dataclass(frozen=True, slots=True)
class DisplayState:
    display: Display
    # Newest first.
    events: list[DisplayEvent]
    # Every read up to this id is reflected in events; a stream resumes after it.
    position: int

    @property
    def last_event_id(self) -> int:
        return max((e.id for e in self.events), default=0)

    @property
    def version(self) -> str:
        """Changes whenever what is shown changes, provisional runners included (an ETag)."""
        provisional = sum(1 for e in self.events if e.id == 0)
        return f"{self.last_event_id}-{provisional}"


class Disconnected(Exception):
    """The screen fell behind (or the hub closed); it reconnects and resumes by read id."""


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


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; showing times in UTC", name)
        return ZoneInfo("UTC")


class ParticipantCache:
    """Chip → participant of one event, looked up once per batch of reads.

    Misses expire, so a participant imported during the race shows by name soon after.
    """

    def __init__(self, tenant_id: int, event_id: int, miss_ttl_s: float = 30.0) -> None:
        self._tenant_id = tenant_id
        self._event_id = event_id
        self._miss_ttl_s = miss_ttl_s
        self._hits: dict[str, Participant] = {}
        self._misses: dict[str, float] = {}

    async def resolve(self, pool: Pool, tags: Iterable[str]) -> dict[str, Participant]:
        """Normalised tags → participants; unknown tags are simply absent."""
        wanted = set(tags)
        now = time.monotonic()
        lookup = sorted(
            t for t in wanted if t not in self._hits and self._misses.get(t, 0.0) <= now
        )
        if lookup:
            async with tenant_connection(pool, self._tenant_id) as conn:
                found = await catalog.participants_by_chip(
                    conn, self._tenant_id, self._event_id, lookup
                )
            self._hits.update(found)
            for tag in lookup:
                if tag not in found:
                    self._misses[tag] = now + self._miss_ttl_s
        return {t: self._hits[t] for t in wanted if t in self._hits}

    def cached(self, tags: Iterable[str]) -> tuple[dict[str, Participant], set[str]]:
        """Without the database: the participants known so far, and the tags not yet looked up."""
        wanted = set(tags)
        hits = {t: self._hits[t] for t in wanted if t in self._hits}
        return hits, {t for t in wanted if t not in hits and t not in self._misses}


class DisplayPipeline:
    """One display's rules applied to reads in id order: locations, control tags, repeats,
    participant lookup and time. Stateful (guntime, recent tags), so one per stream of reads.

    Tags are normalised under the event's tag mode, as its participants' chips were stored.
    """

    def __init__(
        self,
        display: Display,
        zone: tzinfo,
        participants: ParticipantCache,
        gun_time: datetime | None = None,
        tag_mode: str = STRIP_ZEROS,
    ) -> None:
        self.display = display
        self.zone = zone
        self.participants = participants
        self.gun_time = gun_time
        self.tag_mode = tag_mode
        self._locations = frozenset(display.locations)
        self._window = timedelta(seconds=display.duplicate_window)
        self._last_shown: dict[tuple[str, str], datetime] = {}

    def fork(self) -> DisplayPipeline:
        """A pipeline with the same rules, gun and cache but no memory of shown tags."""
        return DisplayPipeline(
            self.display, self.zone, self.participants, self.gun_time, self.tag_mode
        )

    def _is_repeat(self, location: str, tag: str, at: datetime) -> bool:
        key = (location, tag)
        last = self._last_shown.get(key)
        if last is not None and abs(at - last) < self._window:
            return True
        self._last_shown[key] = at
        if len(self._last_shown) > 10_000:
            cutoff = at - self._window
            self._last_shown = {k: v for k, v in self._last_shown.items() if v >= cutoff}
        return False

    async def run(
        self, pool: Pool, reads: Iterable[StoredRead], *, provisional: bool = False
    ) -> list[DisplayEvent]:
        kept: list[tuple[StoredRead, str, datetime | None]] = []
        for read in reads:
            tag = read.tag_code.strip()
            lowered = tag.lower()
            if lowered == GUN_TAG:
                self.gun_time = read.read_at
                continue
            if lowered in CONTROL_TAGS:
                continue
            if self._locations and read.location_name not in self._locations:
                continue
            norm = normalize_tag(tag, self.tag_mode)
            if not norm or self._is_repeat(read.location_name, norm, read.read_at):
                continue
            kept.append((read, norm, self.gun_time))
        if not kept:
            return []
        tags = [norm for _read, norm, _gun in kept]
        unresolved: set[str] = set()
        try:
            people = await self.participants.resolve(pool, tags)
        except Unavailable:
            # Spooled reads are shown during an outage with what is already known.
            if not provisional:
                raise
            people, unresolved = self.participants.cached(tags)
        events: list[DisplayEvent] = []
        for read, norm, gun in kept:
            view = self._view(read, norm, gun, people.get(norm), norm in unresolved)
            if view is not None:
                events.append(DisplayEvent(read.id, view))
        return events

    def _view(
        self,
        read: StoredRead,
        tag: str,
        gun: datetime | None,
        person: Participant | None,
        unresolved: bool = False,
    ) -> RunnerView | None:
        if gun is not None and read.read_at >= gun:
            shown_time, basis = format_elapsed(read.read_at - gun), "gun"
        else:
            shown_time, basis = format_clock(read.read_at, self.zone), "clock"
        if person is None:
            if not self.display.show_unknown and not unresolved:
                return None
            # An unknown chip is shown as the chip code it is, as read: never a made-up name,
            # and never as a bib (a chip code is not one).
            chip = read.tag_code.strip()
            return RunnerView(
                f"Chip {chip}", "", shown_time, basis, read.location_name, False, unresolved
            )
        # The participant's own bib: the list gave it, so naming them by it invents nothing.
        name = person.full_name or f"Bib {person.bib}"
        return RunnerView(name, person.bib, shown_time, basis, read.location_name, True)


@dataclass(frozen=True, slots=True)
class _Frame(Generic[P]):
    event: DisplayEvent
    payload: P


class DisplayClient(Generic[P]):
    """One screen's connection: its catch-up frames first, then the live frames of its display."""

    def __init__(self, feed: _Feed[P], queue_limit: int) -> None:
        self._feed = feed
        self._queue_limit = queue_limit
        self._backlog: deque[P] = deque()
        # Unbounded so the end marker always fits; the limit is enforced in _offer.
        self._queue: asyncio.Queue[_Frame[P] | None] = asyncio.Queue()
        self._skip: set[int] = set()
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

    async def next(self, quiet_s: float) -> P | None:
        """The next frame, or None after quiet_s seconds without one (time for a heartbeat)."""
        if self._backlog:
            return self._backlog.popleft()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + quiet_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                frame = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                return None
            if frame is None:
                raise Disconnected
            if frame.event.id in self._skip:
                self._skip.discard(frame.event.id)
                continue
            return frame.payload

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._feed.detach(self)


class _Feed(Generic[P]):
    """One display in this process: subscribes once, renders once, fans out to its screens."""

    def __init__(self, hub: DisplayHub[P], display: Display) -> None:
        self.hub = hub
        self.display = display
        self.clients: set[DisplayClient[P]] = set()
        self.ring: deque[_Frame[P]] = deque()
        # Every event of a read with id above covered_from is in the ring.
        self.covered_from = 0
        # The highest read id this feed has processed.
        self.position = 0
        self.last_used = time.monotonic()
        self.reap_handle: asyncio.TimerHandle | None = None
        self.pipeline: DisplayPipeline | None = None
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._provisional: set[tuple[object, ...]] = set()
        self._provisional_order: deque[tuple[object, ...]] = deque()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Marks a start-up error as retrieved even when every waiter has gone away.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        # The event's (time zone, tag mode) this feed runs with, read when it primes.
        self.event_rules: tuple[str, str] | None = None
        self.task = asyncio.create_task(self._run(), name=f"display-feed-{display.code}")
        self.watcher = asyncio.create_task(self._watch(), name=f"display-watch-{display.code}")

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
        self.task.cancel()
        if self.watcher is not asyncio.current_task():
            self.watcher.cancel()
        if self.reap_handle is not None:
            self.reap_handle.cancel()
        for client in list(self.clients):
            client._end()
        self.clients.clear()

    async def _run(self) -> None:
        first = True
        channel = event_channel(self.display.event_id)
        while True:
            try:
                async with self.hub._bus.subscribe(channel) as sub:
                    # Subscribed before reading the database, so nothing falls in between.
                    if first:
                        await self._prime()
                        first = False
                    else:
                        await self._catch_up_live()
                    if not self.ready.done():
                        self.ready.set_result(None)
                    async for _channel, message in sub:
                        await self._on_message(message)
                log.warning("bus subscription of display %s ended", self.display.code)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.ready.done():
                    self.ready.set_exception(exc)
                    return
                log.warning(
                    "display %s feed failed (%r); recovering from the database",
                    self.display.code,
                    exc,
                )
            await asyncio.sleep(_RETRY_S)

    async def _prime(self) -> None:
        """Guntime, zone, tag mode and the recent runners, so the first screen is never blank."""
        d = self.display
        async with tenant_connection(self.hub._pool, d.tenant_id) as conn:
            event = await catalog.get_event(conn, d.tenant_id, d.event_id)
            gun = await timing.latest_gun_time(conn, d.tenant_id, d.event_id)
            reads = await timing.latest_event_reads(
                conn, d.tenant_id, d.event_id, self.hub._prime_reads
            )
        self.event_rules = _event_rules(event)
        time_zone, tag_mode = self.event_rules
        cache = ParticipantCache(d.tenant_id, d.event_id)
        self.pipeline = DisplayPipeline(d, _zone(time_zone), cache, gun, tag_mode)
        if len(reads) >= self.hub._prime_reads:
            self.covered_from = reads[0].id - 1
        await self._process(reads)

    async def _watch(self) -> None:
        """Now and then, re-read the display and its event; when either changed, stop the feed.

        Its screens then reconnect (an SSE screen by itself, resuming by Last-Event-ID; a
        polling one at its next poll) to a new feed with the new rules. This reaches edits made
        through any app process; the editing process also stops its feeds at once (reload).
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
                # The database is away: the feed recovers by itself; check again later.
                log.debug("display %s settings check failed: %r", self.display.code, exc)
                continue
            if changed:
                log.info("display %s or its event changed; restarting its feed", self.display.code)
                self.hub._stop(self)
                return

    async def _changed(self) -> bool:
        d = self.display
        async with tenant_connection(self.hub._pool, d.tenant_id) as conn:
            display = await catalog.get_display_by_code(conn, d.code)
            event = await catalog.get_event(conn, d.tenant_id, d.event_id)
        return display != d or _event_rules(event) != self.event_rules

    async def _catch_up_live(self) -> None:
        """After a lost subscription: what was committed meanwhile, through the live path."""
        d = self.display
        page = self.hub._catch_up_page
        while True:
            async with tenant_connection(self.hub._pool, d.tenant_id) as conn:
                reads = await timing.event_reads_after(
                    conn, d.tenant_id, d.event_id, self.position, limit=page
                )
            await self._process(reads)
            if len(reads) < page:
                return

    async def _on_message(self, message: bytes) -> None:
        try:
            batch = ReadBatch.from_json(message)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable read batch on the bus: %r", exc)
            return
        # Defence in depth: the channel is per event, but a display never shows foreign reads.
        if batch.tenant_id != self.display.tenant_id or batch.event_id != self.display.event_id:
            return
        if batch.provisional:
            await self._process_provisional(batch.reads)
        else:
            await self._process(batch.reads)

    def _remember(self, read_id: int) -> None:
        self._seen.add(read_id)
        self._seen_order.append(read_id)
        if len(self._seen_order) > _SEEN_IDS:
            self._seen.discard(self._seen_order.popleft())

    async def _process(self, reads: Sequence[StoredRead]) -> None:
        fresh = [r for r in reads if r.id not in self._seen]
        if not fresh:
            return
        assert self.pipeline is not None
        shown = self._provisional
        new = [r for r in fresh if _natural_key(r) not in shown] if shown else fresh
        events = await self.pipeline.run(self.hub._pool, new)
        for read in fresh:
            self._remember(read.id)
        self.position = max(self.position, max(r.id for r in fresh))
        self._show(events)

    async def _process_provisional(self, reads: Sequence[StoredRead]) -> None:
        """Reads spooled while the database is away: shown now, without an id."""
        assert self.pipeline is not None
        for read in reads:
            key = _natural_key(read)
            self._provisional.add(key)
            self._provisional_order.append(key)
            if len(self._provisional_order) > _SHOWN_PROVISIONAL:
                self._provisional.discard(self._provisional_order.popleft())
        self._show(await self.pipeline.run(self.hub._pool, reads, provisional=True))

    def _show(self, events: list[DisplayEvent]) -> None:
        for event in events:
            frame = self.hub._frame(self.display, event)
            if frame is None:
                continue
            if len(self.ring) >= self.hub._ring_size:
                self.covered_from = max(self.covered_from, self.ring.popleft().event.id)
            self.ring.append(frame)
            for client in list(self.clients):
                client._offer(frame)

    async def catch_up(self, after: int, upto: int) -> list[_Frame[P]] | None:
        """Frames for reads in (after, upto] from the database; None if that is too many."""
        assert self.pipeline is not None
        d = self.display
        pipeline = self.pipeline.fork()
        frames: list[_Frame[P]] = []
        cursor, total = after, 0
        while cursor < upto:
            async with tenant_connection(self.hub._pool, d.tenant_id) as conn:
                page = await timing.event_reads_after(
                    conn, d.tenant_id, d.event_id, cursor, limit=self.hub._catch_up_page
                )
            reads = [r for r in page if r.id <= upto]
            if not reads:
                break
            total += len(reads)
            if total > self.hub._max_catch_up:
                return None
            for event in await pipeline.run(self.hub._pool, reads):
                frame = self.hub._frame(d, event)
                if frame is not None:
                    frames.append(frame)
            cursor = reads[-1].id
        return frames


def _event_rules(event: Event | None) -> tuple[str, str]:
    """What a feed takes from its event: the time zone and the tag mode."""
    if event is None:
        return "UTC", STRIP_ZEROS
    return event.time_zone, event.tag_mode


def _natural_key(read: StoredRead) -> tuple[object, ...]:
    """What identifies a read before and after it is stored (the database id aside)."""
    return (read.session_id, read.location_name, read.sequence_number, read.tag_code, read.read_at)


class DisplayHub(Generic[P]):
    """Every live display of this app process, one feed per display code.

    A feed starts with its first screen (or poll), subscribes to its event's bus channel,
    renders each display event once through `render`, and keeps the recent frames so a
    screen that connects or reconnects gets a snapshot or exactly what it missed. Each screen
    has a bounded queue; one that falls behind is disconnected and never slows the others.
    A feed with no screens stops after `idle_grace_s`.
    """

    def __init__(
        self,
        pool: Pool,
        bus: Bus,
        render: Callable[[Display, DisplayEvent], P],
        *,
        snapshot_size: int = 10,
        ring_size: int = 100,
        client_queue: int = 256,
        idle_grace_s: float = 30.0,
        prime_reads: int = 500,
        catch_up_page: int = 500,
        max_catch_up: int = 5_000,
        recheck_s: float = _RECHECK_S,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._render = render
        self._snapshot_size = snapshot_size
        self._ring_size = max(ring_size, snapshot_size)
        self._client_queue = client_queue
        self._idle_grace_s = idle_grace_s
        self._prime_reads = prime_reads
        self._catch_up_page = catch_up_page
        self._max_catch_up = max_catch_up
        self._recheck_s = recheck_s
        self._feeds: dict[str, _Feed[P]] = {}
        self._closed = False

    async def display(self, code: str) -> Display:
        """The display behind a public code; revoked and unknown codes are NotFound alike."""
        if not is_display_code(code):
            raise NotFound(NOT_AVAILABLE)
        async with connection(self._pool) as conn:
            display = await catalog.get_display_by_code(conn, code)
        if display is None:
            raise NotFound(NOT_AVAILABLE)
        return display

    async def connect(self, code: str, last_event_id: int | None = None) -> DisplayClient[P]:
        """A screen joins: frames after last_event_id (or a snapshot without one), then live.

        The caller must close() the client when the screen goes away.
        """
        feed = await self._feed(code)
        client = DisplayClient(feed, self._client_queue)
        frames = list(feed.ring)
        from_db = last_event_id is not None and last_event_id < feed.covered_from
        if last_event_id is None:
            client._backlog.extend(f.payload for f in frames[-self._snapshot_size :])
        elif not from_db:
            client._backlog.extend(f.payload for f in frames if f.event.id > last_event_id)
        # Registered in the same step as the ring was read: no frame is missed or doubled.
        feed.attach(client)
        if last_event_id is None or not from_db:
            return client
        try:
            caught = await feed.catch_up(last_event_id, feed.position)
        except BaseException:
            client.close()
            raise
        if caught is None:
            # Too much missed to replay: the screen shows the current state instead.
            recent = [f for f in frames if f.event.id > last_event_id]
            client._backlog.extend(f.payload for f in recent[-self._snapshot_size :])
        else:
            client._backlog.extend(f.payload for f in caught)
            client._skip.update(f.event.id for f in caught)
        return client

    async def state(self, code: str) -> DisplayState:
        """What the display shows now: for a first paint and for polling screens."""
        feed = await self._feed(code)
        if not feed.clients:
            self._schedule_reap(feed)
        recent = list(feed.ring)[-self._snapshot_size :]
        recent.reverse()
        return DisplayState(feed.display, [f.event for f in recent], feed.position)

    def screen_count(self, code: str) -> int:
        """Screens connected to a display in this process."""
        feed = self._feeds.get(code)
        return 0 if feed is None else len(feed.clients)

    async def close(self) -> None:
        self._closed = True
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.stop()
        await asyncio.gather(
            *(t for f in feeds for t in (f.task, f.watcher)), return_exceptions=True
        )

    def reload(self, event_id: int, display_id: int | None = None) -> int:
        """Stop this process's feeds of an event (or of one display of it) after an edit.

        Their screens reconnect to feeds built from the edited settings; other app processes
        notice within recheck_s (each feed re-reads its settings). Returns the feeds stopped.
        """
        stale = [
            f
            for f in self._feeds.values()
            if f.display.event_id == event_id and display_id in (None, f.display.id)
        ]
        for feed in stale:
            self._stop(feed)
        return len(stale)

    def _frame(self, display: Display, event: DisplayEvent) -> _Frame[P] | None:
        try:
            return _Frame(event, self._render(display, event))
        except Exception:
            log.exception("rendering event %s of display %s failed", event.id, display.code)
            return None

    async def _feed(self, code: str) -> _Feed[P]:
        if self._closed:
            raise Unavailable("the server is shutting down")
        # Looked up on every connect and poll, so a revoked or edited display takes effect.
        display = await self.display(code)
        feed = self._feeds.get(code)
        if feed is not None and (feed.task.done() or feed.display != display):
            self._stop(feed)
            feed = None
        if feed is None:
            feed = _Feed(self, display)
            self._feeds[code] = feed
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

    def _stop(self, feed: _Feed[P]) -> None:
        if self._feeds.get(feed.display.code) is feed:
            del self._feeds[feed.display.code]
        feed.stop()

    def _schedule_reap(self, feed: _Feed[P]) -> None:
        if feed.reap_handle is not None and not feed.reap_handle.cancelled():
            return
        loop = asyncio.get_running_loop()
        feed.reap_handle = loop.call_later(self._idle_grace_s, self._reap, feed)

    def _reap(self, feed: _Feed[P]) -> None:
        feed.reap_handle = None
        if feed.clients or self._feeds.get(feed.display.code) is not feed:
            return
        idle = time.monotonic() - feed.last_used
        if idle < self._idle_grace_s:
            loop = asyncio.get_running_loop()
            feed.reap_handle = loop.call_later(self._idle_grace_s - idle, self._reap, feed)
            return
        log.info("display %s has no screens; stopping its feed", feed.display.code)
        self._stop(feed)
