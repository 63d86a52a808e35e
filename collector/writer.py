"""The one ingest writer: batches accepted reads, stores them with COPY, publishes after commit.

While PostgreSQL is away the batches go to the local spool instead (fsynced, so they count
as durable) and are published at once as provisional reads; a drainer stores the spool in
order when the database is back, and new batches queue behind it until it is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import uuid4

from app.db import timing
from app.db.pool import Pool, connection
from app.domain.errors import Unavailable
from app.domain.reads import (
    NewRead,
    NewReject,
    ReadBatch,
    StoredRead,
    event_channel,
    session_channel,
)
from app.pubsub import Bus
from collector.spool import Item, Spool

log = logging.getLogger(__name__)

# A batch that fails this often for a reason other than an unreachable database is split
# in halves, so that one row the database refuses cannot hold back every other read.
_SPLIT_AFTER = 3
_MAX_BACKOFF = 2.0
# How long a batch waits for a database connection before it goes to the spool instead.
_CONNECT_TIMEOUT = 1.0
_PUBLISH_TIMEOUT = 2.0
# Committed batches waiting to be published; the writer waits when the bus falls this far behind.
_PUBLISH_BACKLOG = 8
# Rows refused even as rejects (the database refuses everything about them), kept in memory.
_KEEP_REFUSED = 10_000
_DRAIN_CHUNK = 5_000
# After a batch held repeats (a backup line, a resume), batches skip the COPY fast path for
# this long: a repeat makes that path fail and redo the batch the idempotent way.
_REPEATS_MEMORY = 10.0


@dataclass(frozen=True, slots=True)
class Claim:
    tenant_id: int | None
    event_id: int | None


@dataclass(frozen=True, slots=True)
class _Publication:
    reads: list[StoredRead]
    provisional: bool


class IngestWriter:
    """Connections `put` reads and rejected lines; a single task writes them in batches.

    The queue is bounded: when storing falls behind, `put` waits, the connection stops
    reading its socket and TCP pushes back on the provider. Nothing a connection has put is
    dropped: a batch is committed, or fsynced to the spool. A row the database refuses on
    its own, whatever the retries, is stored as a reject with its raw line.
    """

    def __init__(
        self,
        pool: Pool,
        bus: Bus,
        spool: Spool,
        *,
        max_rows: int,
        max_ms: int,
        max_pending: int | None = None,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._spool = spool
        self._max_rows = max(1, max_rows)
        self._max_wait = max(0, max_ms) / 1000
        # Connections hand over lists (one per socket read): one queue operation per list,
        # not per read. The bound is on items, kept by put().
        self._queue: asyncio.Queue[Sequence[Item] | None] = asyncio.Queue()
        self._max_pending = max_pending or self._max_rows * 10
        self._queued = 0
        self._room = asyncio.Event()
        self._locations: dict[tuple[int, str], int] = {}
        self._claims: dict[int, Claim] = {}
        # (session, location) → highest seq committed or spooled: where a provider resumes.
        self._durable: dict[tuple[int, str], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._spooled = asyncio.Event()
        # Publishing runs in its own task so that serialising batch N overlaps with the
        # database working on batch N+1; one task keeps the bus in commit order.
        self._committed: asyncio.Queue[_Publication | None] = asyncio.Queue(_PUBLISH_BACKLOG)
        self._publisher: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._repeats_until = 0.0
        self.accepted = 0
        self.rejects = 0
        self.stored = 0
        self.duplicates = 0
        self.batches = 0
        self.failures = 0
        self.spooled = 0
        self.drained = 0
        self.publish_failures = 0
        self.last_error: str | None = None
        self.refused: deque[Item] = deque(maxlen=_KEEP_REFUSED)

    # -- used by the collector and its connections -------------------------------------------

    def start(self) -> None:
        self._recover_spool()
        self._task = asyncio.create_task(self._run(), name="ingest-writer")
        self._drainer = asyncio.create_task(self._drain(), name="ingest-drainer")
        self._publisher = asyncio.create_task(self._publish_committed(), name="ingest-publisher")

    async def put(self, items: Sequence[Item]) -> None:
        """Queue reads and rejects; waits while the writer is max_pending items behind."""
        if not items:
            return
        while self._queued >= self._max_pending:
            self._room.clear()
            await self._room.wait()
        self._queued += len(items)
        self._queue.put_nowait(items)
        reads = sum(1 for item in items if isinstance(item, NewRead))
        self.accepted += reads
        self.rejects += len(items) - reads

    def claim(self, session_id: int, tenant_id: int | None, event_id: int | None) -> None:
        """Where the session's reads are published from now on."""
        self._claims[session_id] = Claim(tenant_id, event_id)

    def claim_of(self, session_id: int) -> Claim:
        return self._claims.get(session_id, Claim(None, None))

    def remember_location(self, session_id: int, name: str, location_id: int) -> None:
        self._locations[(session_id, name)] = location_id

    def location_id(self, session_id: int, name: str) -> int:
        """The location's id if known here, else 0 (the writer looks it up when storing)."""
        return self._locations.get((session_id, name), 0)

    def durable_points(self, session_id: int) -> dict[str, int]:
        """Location → highest seq this process committed or spooled for the session."""
        return {loc: seq for (sid, loc), seq in self._durable.items() if sid == session_id}

    @property
    def pending(self) -> int:
        """Items accepted but neither committed nor spooled yet."""
        return self._queued + self._in_flight

    @property
    def spool_segments(self) -> int:
        return self._spool.segments

    async def stop(self, grace: float = 10.0) -> None:
        """Commit or spool everything already accepted, then end.

        What is still spooled stays on disk and is drained by the next start.
        """
        if self._task is None or self._publisher is None or self._drainer is None:
            return
        try:
            async with asyncio.timeout(grace):
                await self._queue.put(None)
                await asyncio.shield(self._task)
        except TimeoutError:
            log.error("stopping with %d items neither stored nor spooled", self.pending)
            self._task.cancel()
        self._drainer.cancel()
        await asyncio.gather(self._task, self._drainer, return_exceptions=True)
        try:
            async with asyncio.timeout(_PUBLISH_TIMEOUT):
                await self._committed.put(None)
                await asyncio.shield(self._publisher)
        except TimeoutError:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        self._spool.close()
        if not self._spool.empty:
            log.warning(
                "stopped with %d spool segment(s) in %s; the next start stores them",
                self._spool.segments,
                self._spool.directory,
            )
        self._task = self._publisher = self._drainer = None

    # -- the writer task ----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = list(first)
            self._took(first)
            last = False
            deadline = loop.time() + self._max_wait
            while len(batch) < self._max_rows:
                try:
                    items = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        async with asyncio.timeout_at(deadline):
                            items = await self._queue.get()
                    except TimeoutError:
                        break
                if items is None:
                    last = True
                    break
                batch.extend(items)
                self._took(items)
            await self._write(batch)
            self._in_flight = 0
            if last:
                return

    def _took(self, items: Sequence[Item]) -> None:
        self._queued -= len(items)
        self._in_flight += len(items)
        self._room.set()

    async def _write(self, batch: list[Item]) -> None:
        # While anything is spooled, later batches queue behind it to keep commit order.
        if self._spool.empty:
            try:
                stored = await self._commit(batch)
            except Unavailable as exc:
                self.failures += 1
                self.last_error = str(exc)
                log.warning("database unavailable (%s); spooling reads locally", exc)
            else:
                self._committed_batch(batch, stored)
                if stored:
                    await self._committed.put(_Publication(stored, provisional=False))
                return
        self._spool.append(batch)
        self.spooled += len(batch)
        self._mark_durable(batch)
        self._spooled.set()
        provisional = [_provisional(r) for r in batch if isinstance(r, NewRead)]
        if provisional:
            await self._committed.put(_Publication(provisional, provisional=True))

    async def _commit(self, batch: Sequence[Item]) -> list[StoredRead]:
        """Store a batch; Unavailable propagates (the caller spools or waits).

        Any other failure is retried, then the batch is split, and a single row the
        database still refuses is kept as a reject.
        """
        attempt = 0
        while True:
            try:
                return await self._store(batch)
            except Unavailable:
                raise
            # Whatever else fails, the batch is kept; the writer never dies.
            except Exception as exc:
                attempt += 1
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                # A cached location id may be what the database refused.
                self._locations.clear()
                if attempt < _SPLIT_AFTER:
                    delay = min(_MAX_BACKOFF, 0.1 * 2**attempt)
                    log.warning(
                        "storing %d items failed (%s); retry %d in %.1fs",
                        len(batch),
                        self.last_error,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                if len(batch) > 1:
                    middle = len(batch) // 2
                    return await self._commit(batch[:middle]) + await self._commit(batch[middle:])
                await self._refuse(batch[0], exc)
                return []

    async def _refuse(self, item: Item, exc: Exception) -> None:
        log.error("the database refuses %r: %s", item, exc)
        reject = (
            item
            if isinstance(item, NewReject)
            else NewReject(
                uuid4(),
                item.session_id,
                "",
                "refused_by_database",
                f"{type(exc).__name__}: {exc}"[:1000],
                item.raw_line.encode(),
                item.received_at,
            )
        )
        # With its session if the database takes it, else without: the session may be what
        # it refused.
        for attempt in (reject, reject._replace(session_id=None)):
            try:
                async with connection(self._pool, _CONNECT_TIMEOUT) as conn:
                    await timing.store_rejects(conn, [attempt])
                return
            except Exception as again:
                log.error("storing the refused line as a reject failed: %s", again)
        self.refused.append(item)

    async def _store(self, batch: Sequence[Item]) -> list[StoredRead]:
        reads = [r for r in batch if isinstance(r, NewRead)]
        rejects = [r for r in batch if isinstance(r, NewReject)]
        async with connection(self._pool, _CONNECT_TIMEOUT) as conn:
            ids = self._locations
            rows: list[NewRead] = []
            for r in reads:
                key = (r.session_id, r.location_name)
                location_id = ids.get(key)
                if location_id is None:
                    location_id = ids[key] = await timing.ensure_location(
                        conn, r.session_id, r.location_name, r.reader_id or None
                    )
                # Connections fill in the id they know; it is checked here, as the cache may
                # have been cleared since.
                rows.append(
                    r if r.location_id == location_id else r._replace(location_id=location_id)
                )
            loop = asyncio.get_running_loop()
            stored = await timing.store_reads(
                conn, rows, expect_repeats=loop.time() < self._repeats_until
            )
            await timing.store_rejects(conn, rejects)
            if len(stored) < len(rows):
                self._repeats_until = loop.time() + _REPEATS_MEMORY
            return stored

    def _committed_batch(self, batch: Sequence[Item], stored: list[StoredRead]) -> None:
        reads = sum(isinstance(r, NewRead) for r in batch)
        self.batches += 1
        self.stored += len(stored)
        self.duplicates += reads - len(stored)
        self._mark_durable(batch)

    def _mark_durable(self, batch: Sequence[Item]) -> None:
        durable = self._durable
        for r in batch:
            if isinstance(r, NewRead):
                key = (r.session_id, r.location_name)
                if durable.get(key, -1) < r.sequence_number:
                    durable[key] = r.sequence_number

    # -- the spool ----------------------------------------------------------------------------

    def _recover_spool(self) -> None:
        """Segments left by an earlier process: their reads count as durable, drain them."""
        if self._spool.empty:
            return
        count = 0
        for item in self._spool.recovered():
            self._mark_durable((item,))
            count += 1
        log.warning("%d items in the spool from an earlier run; storing them", count)
        self._spooled.set()

    async def _drain(self) -> None:
        attempt = 0
        while True:
            await self._spooled.wait()
            spool = self._spool
            while not spool.empty:
                spool.seal()
                path = spool.oldest()
                assert path is not None
                for chunk in spool.read(path, _DRAIN_CHUNK):
                    while True:
                        try:
                            stored = await self._commit(chunk)
                            break
                        except Unavailable as exc:
                            attempt += 1
                            self.last_error = str(exc)
                            await asyncio.sleep(min(_MAX_BACKOFF, 0.1 * 2**attempt))
                    attempt = 0
                    self._committed_batch(chunk, stored)
                    self.drained += len(chunk)
                    if stored:
                        await self._committed.put(_Publication(stored, provisional=False))
                spool.remove_oldest()
                log.info("spool segment %s stored", path.name)
            self._spooled.clear()

    # -- publishing ---------------------------------------------------------------------------

    async def _publish_committed(self) -> None:
        while (publication := await self._committed.get()) is not None:
            await self._publish(publication)

    async def _publish(self, publication: _Publication) -> None:
        # One message per channel per commit, its reads in id order: an event's displays feed
        # reads by id, so the reads of two sessions of one commit must not arrive as two
        # messages whose ids interleave.
        by_channel: dict[str, tuple[int, Claim, list[StoredRead]]] = {}
        for read in publication.reads:
            claim = self.claim_of(read.session_id)
            channel = (
                event_channel(claim.event_id)
                if claim.event_id is not None
                else session_channel(read.session_id)
            )
            by_channel.setdefault(channel, (read.session_id, claim, []))[2].append(read)
        for channel, (session_id, claim, reads) in by_channel.items():
            reads.sort(key=lambda r: r.id)
            message = ReadBatch(
                session_id, claim.event_id, claim.tenant_id, tuple(reads), publication.provisional
            )
            try:
                async with asyncio.timeout(_PUBLISH_TIMEOUT):
                    await self._bus.publish(channel, message.to_json())
            # The reads are stored; screens catch up from the database.
            except Exception as exc:
                self.publish_failures += 1
                log.warning("publishing %d reads on %s failed: %s", len(reads), channel, exc)


def _provisional(read: NewRead) -> StoredRead:
    """A spooled read as screens see it before it has a database id (id 0)."""
    return StoredRead(
        0,
        read.session_id,
        read.location_name,
        read.tag_code,
        read.read_at,
        read.sequence_number,
        read.lap_count,
    )
