"""One provider connection: socket bytes into the CTP01 session, reads into the ingest writer."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import ct_parser
from ct_parser import Parser, Read

from app.db import timing
from app.db.pool import Pool, connection
from app.domain.errors import Unavailable
from app.domain.reads import NewRead
from collector import times
from collector.session import (
    Closed,
    Ctp01Session,
    Event,
    EventInfo,
    EventInfoChanged,
    Greeted,
    HandshakeDone,
    LineRejected,
    LocationsChanged,
    Phase,
    ProviderError,
    ReadsReceived,
    Timeouts,
)
from collector.writer import IngestWriter

log = logging.getLogger(__name__)

MAX_LINE = 4096
READ_SIZE = 64 * 1024
_BIGINT = 2**63
_INT = 2**31
_KEEP_REJECTED = 20
_LOG_REJECTED = 20
_MAX_BACKOFF = 5.0


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    raw: bytes
    at: datetime


@dataclass(slots=True)
class _Session:
    id: int
    name: str


class ProviderConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        pool: Pool,
        ingest: IngestWriter,
        zone: tzinfo,
        version: str,
        timeouts: Timeouts,
        on_session: Callable[[str], None],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._pool = pool
        self._ingest = ingest
        self._zone = zone
        self._on_session = on_session
        peer = writer.get_extra_info("peername")
        self.peer_host = str(peer[0]) if peer else "unknown"
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "unknown"
        loop = asyncio.get_running_loop()
        self._machine = Ctp01Session(
            Parser(max_line_len=MAX_LINE), loop.time(), version=version, timeouts=timeouts
        )
        self.connected_since = datetime.now(UTC)
        self.identity: str | None = None
        self.reads = 0
        self.rejected: Counter[str] = Counter()
        self.recent_rejected: deque[Rejected] = deque(maxlen=_KEEP_REJECTED)
        self.close_reason: str | None = None
        self._session: _Session | None = None
        self._tenant_id: int | None = None
        self._event_id: int | None = None
        # Reads that came before the timing session was open: (received_at, reads).
        self._held: list[tuple[datetime, list[Read]]] = []
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        machine = self._machine
        log.info("provider connected from %s", self.peer)
        try:
            while True:
                data: bytes | None
                try:
                    async with asyncio.timeout_at(machine.next_deadline()):
                        data = await self._reader.read(READ_SIZE)
                except TimeoutError:
                    data = None
                except OSError as exc:
                    log.info("%s: connection lost: %s", self.peer, exc)
                    data = b""
                now = loop.time()
                if data is None:
                    events: list[Event] = []
                elif data:
                    events = machine.receive_data(data, now)
                else:
                    events = machine.receive_eof(now)
                events += machine.tick(now)
                closed = await self._handle(events)
                self._flush()
                if closed:
                    break
        finally:
            if self._held:
                await self._store_held_on_close()
            await self._close_socket()
            log.info(
                "provider %s (%s) disconnected: %s; %d reads, %d rejected lines",
                self.peer,
                self.identity or "no identity",
                self.close_reason,
                self.reads,
                sum(self.rejected.values()),
            )

    def stop(self) -> None:
        """Collector shutdown: stop reading; what was read is still handed to the writer."""
        self._stopping = True
        if not self._writer.is_closing():
            self._writer.close()

    # -- events ---------------------------------------------------------------------------

    async def _handle(self, events: list[Event]) -> bool:
        for event in events:
            if isinstance(event, ReadsReceived):
                await self._accept(event.reads)
            elif isinstance(event, LineRejected):
                self._reject(event.error.reason, event.error.detail, event.error.raw)
            elif isinstance(event, Greeted):
                log.info("%s greeted: %s %s", self.peer, event.program, event.version)
            elif isinstance(event, HandshakeDone):
                if event.unanswered:
                    log.warning("%s did not answer %s", self.peer, ", ".join(event.unanswered))
                self._flush()
                await self._open_session(event.connection_id, event.event, event.locations)
                if self._session is None:
                    self.close_reason = "collector stopping"
                    return True
                self._machine.start()
                await self._release_held()
            elif isinstance(event, EventInfoChanged):
                if self._session is not None:
                    await self._claim(self._session.id, event.event)
            elif isinstance(event, LocationsChanged):
                log.info("%s locations: %s", self.peer, ", ".join(event.locations))
                if self._session is not None:
                    await self._ensure_locations(self._session.id, event.locations)
            elif isinstance(event, ProviderError):
                log.warning("%s err~%s~%s", self.peer, event.command, event.message)
            elif isinstance(event, Closed):
                self.close_reason = event.reason
                return True
        return False

    async def _accept(self, reads: list[Read]) -> None:
        received = datetime.now(UTC)
        if self._session is None:
            self._held.append((received, reads))
            return
        await self._ingest.put(self._convert(self._session.id, received, reads))

    def _convert(self, session_id: int, received: datetime, reads: list[Read]) -> list[NewRead]:
        out: list[NewRead] = []
        zone = self._zone
        default_location = self._machine.locations[0] if self._machine.locations else ""
        for r in reads:
            try:
                read_at = self._read_at(r.time_kind, r.time_us, received, zone)
            except (ValueError, OverflowError) as exc:
                self._reject("bad_time", str(exc), r.raw)
                continue
            if not (0 <= r.seq < _BIGINT and -_INT <= r.lap < _INT and -_INT <= r.antenna < _INT):
                self._reject("out_of_range", "seq, lap or antenna does not fit", r.raw)
                continue
            out.append(
                NewRead(
                    session_id,
                    0,
                    r.seq,
                    r.location or default_location,
                    r.tag,
                    r.time_raw,
                    read_at,
                    r.lap,
                    r.reader,
                    r.antenna,
                    r.raw.decode("utf-8", "replace"),
                    received,
                )
            )
        self.reads += len(out)
        return out

    @staticmethod
    def _read_at(kind: int, time_us: int, received: datetime, zone: tzinfo) -> datetime:
        if kind == ct_parser.LOCAL:
            return times.from_local_us(time_us, zone)
        if kind == ct_parser.UNIX:
            return times.from_unix_us(time_us)
        if kind == ct_parser.TIME_OF_DAY:
            return times.from_time_of_day_us(time_us, received, zone)
        raise ValueError(f"unknown time kind {kind}")

    def _reject(self, reason: str, detail: str, raw: bytes) -> None:
        self.rejected[reason] += 1
        self.recent_rejected.append(Rejected(reason, detail, raw, datetime.now(UTC)))
        # A peer sending nothing but garbage must not flood the log; the counts are in /status.
        total = sum(self.rejected.values())
        level = logging.WARNING if total <= _LOG_REJECTED or total % 1000 == 0 else logging.DEBUG
        log.log(
            level, "%s: rejected line %d (%s: %s): %r", self.peer, total, reason, detail, raw[:200]
        )

    async def _release_held(self) -> None:
        assert self._session is not None
        held, self._held = self._held, []
        for received, reads in held:
            await self._ingest.put(self._convert(self._session.id, received, reads))

    async def _store_held_on_close(self) -> None:
        """A provider that pushed reads and left before the handshake finished."""
        if self._session is None:
            m = self._machine
            await self._open_session(m.connection_id, m.event, m.locations, retry=False)
        if self._session is None:
            count = sum(len(reads) for _, reads in self._held)
            log.error(
                "%s: %d reads not stored: no timing session could be opened", self.peer, count
            )
            return
        await self._release_held()

    # -- database -----------------------------------------------------------------------

    async def _open_session(
        self,
        connection_id: str | None,
        event: EventInfo | None,
        locations: tuple[str, ...],
        retry: bool = True,
    ) -> None:
        m = self._machine
        self.identity = connection_id or f"{m.provider_program or 'unknown'}@{self.peer_host}"
        name = datetime.now(UTC).strftime("Session_%Y%m%d_%H%M%S")
        attempt = 0
        while True:
            try:
                async with connection(self._pool) as conn:
                    row = await timing.open_session(
                        conn,
                        provider_identity=self.identity,
                        session_name=name,
                        provider_program=m.provider_program,
                        provider_version=m.provider_version,
                    )
                break
            except Unavailable as exc:
                attempt += 1
                if not retry or self._stopping:
                    log.error("%s: cannot open a timing session: %s", self.peer, exc)
                    return
                delay = min(_MAX_BACKOFF, 0.2 * 2**attempt)
                log.warning(
                    "%s: cannot open a timing session (%s); retry in %.1fs", self.peer, exc, delay
                )
                await asyncio.sleep(delay)
        self._session = _Session(row.id, row.session_name)
        self._tenant_id, self._event_id = row.tenant_id, row.event_id
        self._ingest.claim(row.id, row.tenant_id, row.event_id)
        self._on_session(row.session_name)
        log.info(
            "%s: %s is timing session %s (%d)", self.peer, self.identity, row.session_name, row.id
        )
        if event is not None:
            await self._claim(row.id, event)
        await self._ensure_locations(row.id, locations)

    async def _claim(self, session_id: int, event: EventInfo) -> None:
        if not event.event_id:
            return
        try:
            async with connection(self._pool) as conn:
                tenant_id, event_id = await timing.claim_session(
                    conn, session_id, event.event_id, event.name
                )
        except Unavailable as exc:
            log.warning("%s: could not record event %s: %s", self.peer, event.event_id, exc)
            return
        self._tenant_id, self._event_id = tenant_id, event_id
        self._ingest.claim(session_id, tenant_id, event_id)
        if event_id is None:
            log.info(
                "%s: event %s (%s) is not registered by any event",
                self.peer,
                event.event_id,
                event.name,
            )

    async def _ensure_locations(self, session_id: int, locations: tuple[str, ...]) -> None:
        if not locations:
            return
        try:
            async with connection(self._pool) as conn:
                for name in locations:
                    location_id = await timing.ensure_location(conn, session_id, name)
                    self._ingest.remember_location(session_id, name, location_id)
        except Unavailable as exc:
            # Reads create their locations when they are stored; nothing is lost here.
            log.warning("%s: could not record locations: %s", self.peer, exc)

    # -- socket -------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self._machine.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _close_socket(self) -> None:
        if self._machine.phase is not Phase.CLOSED:
            self._machine.close(self.close_reason or "closed")
        self._writer.close()
        try:
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        except (TimeoutError, OSError):
            pass

    # -- status -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        m = self._machine
        return {
            "peer": self.peer,
            "program": m.provider_program or None,
            "version": m.provider_version or None,
            "identity": self.identity,
            "phase": m.phase.value,
            "session": self._session.name if self._session else None,
            "session_id": self._session.id if self._session else None,
            "tenant_id": self._tenant_id,
            "event_id": self._event_id,
            "ct_event": m.event.event_id if m.event else None,
            "locations": list(m.locations),
            "reads": self.reads,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "recent_rejected": [
                {
                    "reason": r.reason,
                    "detail": r.detail,
                    "raw": r.raw.decode("utf-8", "replace"),
                    "at": r.at.isoformat(),
                }
                for r in self.recent_rejected
            ],
            "connected_since": self.connected_since.isoformat(),
        }
