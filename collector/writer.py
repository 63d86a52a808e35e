"""The one ingest writer: batches accepted reads, stores them with COPY, publishes after commit."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.db import timing
from app.db.pool import Pool, connection
from app.domain.errors import Unavailable
from app.domain.reads import NewRead, ReadBatch, StoredRead, event_channel, session_channel
from app.pubsub import Bus

log = logging.getLogger(__name__)

# A batch that fails this often for a reason other than an unreachable database is split
# in halves, so that one row the database refuses cannot hold back every other read.
_SPLIT_AFTER = 3
_MAX_BACKOFF = 5.0
_PUBLISH_TIMEOUT = 2.0
# Committed batches waiting to be published; the writer waits when the bus falls this far behind.
_PUBLISH_BACKLOG = 8
# Rows the database refused on their own, kept for the operator (bounded).
_KEEP_REFUSED = 10_000


@dataclass(frozen=True, slots=True)
class Claim:
    tenant_id: int | None
    event_id: int | None


class IngestWriter:
    """Connections `put` reads; a single task writes them in batches.

    The queue is bounded: when the database falls behind (or is down), `put` waits, the
    connection stops reading its socket and TCP pushes back on the provider. Nothing a
    connection has put is dropped: a failed batch is retried until it is stored. Only a
    row that the database refuses on its own, whatever the retries, is set aside in
    `refused` (and logged with its raw line) so that it cannot block the rest.
    """

    def __init__(
        self,
        pool: Pool,
        bus: Bus,
        *,
        max_rows: int,
        max_ms: int,
        max_pending: int | None = None,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._max_rows = max(1, max_rows)
        self._max_wait = max(0, max_ms) / 1000
        self._queue: asyncio.Queue[NewRead | None] = asyncio.Queue(
            max_pending or self._max_rows * 10
        )
        self._locations: dict[tuple[int, str], int] = {}
        self._claims: dict[int, Claim] = {}
        self._task: asyncio.Task[None] | None = None
        # Publishing runs in its own task so that serialising batch N overlaps with the
        # database working on batch N+1; one task keeps the bus in commit order.
        self._committed: asyncio.Queue[list[StoredRead] | None] = asyncio.Queue(_PUBLISH_BACKLOG)
        self._publisher: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.accepted = 0
        self.stored = 0
        self.duplicates = 0
        self.batches = 0
        self.failures = 0
        self.publish_failures = 0
        self.last_error: str | None = None
        self.refused: deque[NewRead] = deque(maxlen=_KEEP_REFUSED)

    # -- used by connections --------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")
        self._publisher = asyncio.create_task(self._publish_committed(), name="ingest-publisher")

    async def put(self, reads: Iterable[NewRead]) -> None:
        queue = self._queue
        for read in reads:
            if queue.full():
                await queue.put(read)
            else:
                queue.put_nowait(read)
            self.accepted += 1

    def claim(self, session_id: int, tenant_id: int | None, event_id: int | None) -> None:
        """Where the session's reads are published from now on."""
        self._claims[session_id] = Claim(tenant_id, event_id)

    def claim_of(self, session_id: int) -> Claim:
        return self._claims.get(session_id, Claim(None, None))

    def remember_location(self, session_id: int, name: str, location_id: int) -> None:
        self._locations[(session_id, name)] = location_id

    @property
    def pending(self) -> int:
        """Reads accepted but not yet committed."""
        return self._queue.qsize() + self._in_flight

    async def stop(self, grace: float = 10.0) -> None:
        """Write everything already accepted, then end; gives up after `grace` seconds."""
        if self._task is None or self._publisher is None:
            return
        try:
            async with asyncio.timeout(grace):
                await self._queue.put(None)
                await asyncio.shield(self._task)
                await self._committed.put(None)
                await asyncio.shield(self._publisher)
        except TimeoutError:
            log.error("stopping with %d reads not stored: %s", self.pending, self.last_error)
            for task in (self._task, self._publisher):
                task.cancel()
            await asyncio.gather(self._task, self._publisher, return_exceptions=True)
        self._task = self._publisher = None

    # -- the writer task --------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            self._in_flight = 1
            last = False
            deadline = loop.time() + self._max_wait
            while len(batch) < self._max_rows:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        async with asyncio.timeout_at(deadline):
                            item = await queue.get()
                    except TimeoutError:
                        break
                if item is None:
                    last = True
                    break
                batch.append(item)
                self._in_flight += 1
            await self._write(batch)
            self._in_flight = 0
            if last:
                return

    async def _write(self, batch: list[NewRead]) -> None:
        attempt = 0
        while True:
            try:
                stored = await self._store(batch)
            # Whatever the failure, the batch is kept and retried; the writer never dies.
            except Exception as exc:
                attempt += 1
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                # A cached location id may be what the database refused.
                self._locations.clear()
                if not isinstance(exc, Unavailable) and attempt >= _SPLIT_AFTER:
                    if len(batch) > 1:
                        middle = len(batch) // 2
                        await self._write(batch[:middle])
                        await self._write(batch[middle:])
                    else:
                        self.refused.append(batch[0])
                        log.error("the database refuses read %r: %s", batch[0].raw_line, exc)
                    return
                delay = min(_MAX_BACKOFF, 0.1 * 2**attempt)
                log.warning(
                    "storing %d reads failed (%s); retry %d in %.1fs",
                    len(batch),
                    self.last_error,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.batches += 1
            self.stored += len(stored)
            self.duplicates += len(batch) - len(stored)
            if attempt:
                log.info("stored %d reads after %d retries", len(batch), attempt)
            if stored:
                await self._committed.put(stored)
            return

    async def _store(self, batch: Sequence[NewRead]) -> list[StoredRead]:
        async with connection(self._pool) as conn:
            ids = self._locations
            for read in batch:
                key = (read.session_id, read.location_name)
                if key not in ids:
                    ids[key] = await timing.ensure_location(
                        conn, read.session_id, read.location_name, read.reader_id or None
                    )
            rows = [r._replace(location_id=ids[(r.session_id, r.location_name)]) for r in batch]
            return await timing.store_reads(conn, rows)

    async def _publish_committed(self) -> None:
        while (stored := await self._committed.get()) is not None:
            await self._publish(stored)

    async def _publish(self, stored: list[StoredRead]) -> None:
        by_session: dict[int, list[StoredRead]] = defaultdict(list)
        for read in stored:
            by_session[read.session_id].append(read)
        for session_id, reads in by_session.items():
            claim = self.claim_of(session_id)
            channel = (
                event_channel(claim.event_id)
                if claim.event_id is not None
                else session_channel(session_id)
            )
            message = ReadBatch(session_id, claim.event_id, claim.tenant_id, tuple(reads))
            try:
                async with asyncio.timeout(_PUBLISH_TIMEOUT):
                    await self._bus.publish(channel, message.to_json())
            # The reads are stored; screens catch up from the database.
            except Exception as exc:
                self.publish_failures += 1
                log.warning("publishing %d reads on %s failed: %s", len(reads), channel, exc)
