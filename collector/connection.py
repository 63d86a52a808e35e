"""One provider connection: socket bytes into the CTP01 session, reads into the ingest writer."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import uuid4

import ct_parser
from ct_parser import Parser, Read

from app.db import timing
from app.db.pool import Pool, connection
from app.domain.codes import as_provider_key, split_location
from app.domain.errors import Unavailable
from app.domain.reads import NewRead, NewReject
from collector import times
from collector.health import DecoderHealth, PointHealth
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
# Rejected lines stored per connection; past this a garbage flood is only counted, so it
# cannot fill the database or crowd the writer that other providers share.
_STORE_REJECTED = 10_000
# Reads pushed before the timing session is open are held; past this they are kept as
# rejects (with their raw line) rather than in memory.
_MAX_HELD = 50_000
# Resume points and locations are asked for once, briefly, when a session opens.
_RESUME_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    raw: bytes
    at: datetime


@dataclass(frozen=True, slots=True)
class KnownSession:
    """A provider identity's session as last opened, for reconnects while the database is away."""

    id: int
    name: str
    tenant_id: int | None
    event_id: int | None


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
        time_format: str,
        health: DecoderHealth,
        known_sessions: dict[str, KnownSession],
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
            Parser(max_line_len=MAX_LINE),
            loop.time(),
            version=version,
            timeouts=timeouts,
            time_format=time_format,
        )
        self._health = health
        self._known_sessions = known_sessions
        self._point: PointHealth | None = None
        self.connected_since = datetime.now(UTC)
        self.identity: str | None = None
        self.reads = 0
        self.rejected: Counter[str] = Counter()
        self.recent_rejected: deque[Rejected] = deque(maxlen=_KEEP_REJECTED)
        self.close_reason: str | None = None
        self._session: KnownSession | None = None
        self._rejects: list[NewReject] = []
        self._tenant_id: int | None = None
        self._event_id: int | None = None
        # Provider keys this connection has sent (connection id, location prefixes), and the
        # ones already tried against the events: each is looked up once.
        self._keys: dict[str, None] = {}
        self._keys_tried: set[str] = set()
        # Stored location name → the name the provider uses (with its key prefix, if any).
        self._provider_names: dict[str, str] = {}
        # Reads that came before the timing session was open: (received_at, reads).
        self._held: list[tuple[datetime, list[Read]]] = []
        self._held_count = 0
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
                await self._hand_over_rejects()
                self._flush()
                if closed:
                    break
        finally:
            if self._held:
                await self._store_held_on_close()
            await self._hand_over_rejects()
            await self._close_socket()
            if self._point is not None:
                self._health.disconnected(self._point, self.peer, self.close_reason, loop.time())
            log.info(
                "provider %s (%s) disconnected: %s; %d reads, %d rejected lines",
                self.peer,
                self.identity or "no identity",
                self.close_reason,
                self.reads,
                sum(self.rejected.values()),
            )

    @property
    def awaiting_greeting(self) -> bool:
        return self._machine.phase is Phase.GREETING

    def stop(self) -> None:
        """Stop reading (collector shutdown); what was read is still handed to the writer."""
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
                self._machine.start(await self._resume_points(self._session.id))
                await self._release_held()
            elif isinstance(event, EventInfoChanged):
                if self._session is not None:
                    await self._claim(self._session.id, event.event)
            elif isinstance(event, LocationsChanged):
                log.info("%s locations: %s", self.peer, ", ".join(event.locations))
                if self._session is not None:
                    await self._ensure_locations(self._session.id, event.locations)
                    await self._claim_by_key()
            elif isinstance(event, ProviderError):
                log.warning("%s err~%s~%s", self.peer, event.command, event.message)
            elif isinstance(event, Closed):
                self.close_reason = event.reason
                return True
        return False

    async def _accept(self, reads: list[Read]) -> None:
        received = datetime.now(UTC)
        if self._session is None:
            self._hold(received, reads)
            return
        converted = self._convert(self._session.id, received, reads)
        if self._point is not None:
            self._point.record(converted, asyncio.get_running_loop().time())
        await self._ingest.put(converted)
        await self._claim_by_key()

    def _convert(self, session_id: int, received: datetime, reads: list[Read]) -> list[NewRead]:
        out: list[NewRead] = []
        zone = self._zone
        default_location = self._machine.locations[0] if self._machine.locations else ""
        names: dict[str, str] = {}
        location_id = self._ingest.location_id
        for r in reads:
            try:
                read_at = self._read_at(r.time_kind, r.time_us, received, zone)
            except (ValueError, OverflowError) as exc:
                self._reject("bad_time", str(exc), r.raw)
                continue
            if not (0 <= r.seq < _BIGINT and -_INT <= r.lap < _INT and -_INT <= r.antenna < _INT):
                self._reject("out_of_range", "seq, lap or antenna does not fit", r.raw)
                continue
            provider_name = r.location or default_location
            location = names.get(provider_name)
            if location is None:
                location = names[provider_name] = self._stored_name(provider_name)
            out.append(
                NewRead(
                    session_id,
                    location_id(session_id, location),
                    r.seq,
                    location,
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
        """Count a malformed line and queue it, raw bytes and all, for the rejects table."""
        at = datetime.now(UTC)
        self.rejected[reason] += 1
        if self._point is not None:
            self._point.rejected[reason] += 1
        self.recent_rejected.append(Rejected(reason, detail, raw, at))
        total = sum(self.rejected.values())
        if total <= _STORE_REJECTED:
            session_id = self._session.id if self._session else None
            self._rejects.append(
                NewReject(uuid4(), session_id, self.peer, reason, detail[:1000], raw, at)
            )
        elif total == _STORE_REJECTED + 1:
            log.warning("%s: over %d rejected lines; counting the rest only", self.peer, total - 1)
        # A peer sending nothing but garbage must not flood the log; the counts are in /status.
        level = logging.WARNING if total <= _LOG_REJECTED or total % 1000 == 0 else logging.DEBUG
        log.log(
            level, "%s: rejected line %d (%s: %s): %r", self.peer, total, reason, detail, raw[:200]
        )

    async def _hand_over_rejects(self) -> None:
        if self._rejects:
            rejects, self._rejects = self._rejects, []
            await self._ingest.put(rejects)

    def _hold(self, received: datetime, reads: list[Read]) -> None:
        room = _MAX_HELD - self._held_count
        if room < len(reads):
            for read in reads[max(room, 0) :]:
                self._reject("before_session", "read pushed before the session was open", read.raw)
            reads = reads[: max(room, 0)]
        if reads:
            self._held.append((received, reads))
            self._held_count += len(reads)

    async def _release_held(self) -> None:
        assert self._session is not None
        held, self._held, self._held_count = self._held, [], 0
        for received, reads in held:
            converted = self._convert(self._session.id, received, reads)
            if self._point is not None:
                self._point.record(converted, asyncio.get_running_loop().time())
            await self._ingest.put(converted)
        await self._claim_by_key()

    async def _store_held_on_close(self) -> None:
        """A provider that pushed reads and left before the handshake finished."""
        if self._session is None:
            m = self._machine
            await self._open_session(m.connection_id, m.event, m.locations, retry=False)
        if self._session is None:
            held, self._held, self._held_count = self._held, [], 0
            log.error("%s: no timing session; %d held reads kept as rejects", self.peer,
                      sum(len(reads) for _, reads in held))  # fmt: skip
            for _, reads in held:
                for read in reads:
                    self._reject("no_session", "no timing session could be opened", read.raw)
            return
        await self._release_held()

    # -- database -----------------------------------------------------------------------

    def _stored_name(self, provider_name: str) -> str:
        """A location name as stored: without the provider key the provider may prefix it with."""
        key, name = split_location(provider_name)
        if key is not None:
            self._keys.setdefault(key, None)
            self._provider_names[name] = provider_name
        return name

    async def _open_session(
        self,
        connection_id: str | None,
        event: EventInfo | None,
        locations: tuple[str, ...],
        retry: bool = True,
    ) -> None:
        m = self._machine
        identity = self.identity = (
            connection_id or f"{m.provider_program or 'unknown'}@{self.peer_host}"
        )
        name = datetime.now(UTC).strftime("Session_%Y%m%d_%H%M%S")
        attempt = 0
        while True:
            try:
                async with connection(self._pool) as conn:
                    row = await timing.open_session(
                        conn,
                        provider_identity=identity,
                        session_name=name,
                        provider_program=m.provider_program,
                        provider_version=m.provider_version,
                    )
                session = KnownSession(row.id, row.session_name, row.tenant_id, row.event_id)
                break
            except Unavailable as exc:
                known = self._known_sessions.get(identity)
                if known is not None:
                    # A reconnect during an outage: carry on in the session we know; its
                    # reads go to the spool like everyone else's.
                    log.warning(
                        "%s: database unavailable; reusing session %s", self.peer, known.name
                    )
                    session = known
                    break
                attempt += 1
                if not retry or self._stopping:
                    log.error("%s: cannot open a timing session: %s", self.peer, exc)
                    return
                delay = min(_MAX_BACKOFF, 0.2 * 2**attempt)
                log.warning(
                    "%s: cannot open a timing session (%s); retry in %.1fs", self.peer, exc, delay
                )
                await asyncio.sleep(delay)
        self._session = session
        self._known_sessions[identity] = session
        self._set_claim(session.tenant_id, session.event_id)
        self._point = self._health.connected(
            identity,
            self.peer,
            m.provider_program,
            m.provider_version,
            asyncio.get_running_loop().time(),
        )
        self._point.session_id, self._point.session_name = session.id, session.name
        self._point.rejected.update(self.rejected)
        self._rejects = [r._replace(session_id=session.id) for r in self._rejects]
        self._on_session(session.name)
        log.info("%s: %s is timing session %s (%d)", self.peer, identity, session.name, session.id)
        if connection_id and (key := as_provider_key(connection_id)) is not None:
            self._keys.setdefault(key, None)
        # The rules in order: the ChronoTrack event id, then a provider key.
        if event is not None:
            await self._claim(session.id, event)
        await self._ensure_locations(session.id, locations)
        await self._claim_by_key()

    async def _resume_points(self, session_id: int) -> dict[str, int]:
        """Where each location resumes: the higher of what the database and this process hold."""
        points = self._ingest.durable_points(session_id)
        try:
            async with connection(self._pool, _RESUME_TIMEOUT) as conn:
                stored = await timing.resume_points(conn, session_id)
        except Unavailable as exc:
            log.warning("%s: resume points from memory only: %s", self.peer, exc)
            stored = {}
        for location, seq in stored.items():
            points[location] = max(seq, points.get(location, seq))
        if self._point is not None:
            for location, seq in points.items():
                self._point.location(location).gaps.resume_from(seq)
        if points:
            log.info(
                "%s: resuming %s",
                self.peer,
                ", ".join(f"{loc} after seq {seq}" for loc, seq in sorted(points.items())),
            )
        # The provider resumes a location by its own name, key prefix and all.
        names = self._provider_names
        return {names.get(loc, loc): seq for loc, seq in points.items()}

    def _set_claim(self, tenant_id: int | None, event_id: int | None) -> None:
        self._tenant_id, self._event_id = tenant_id, event_id
        if self._session is not None:
            session = self._session
            self._ingest.claim(session.id, tenant_id, event_id)
            if self.identity is not None:
                self._known_sessions[self.identity] = KnownSession(
                    session.id, session.name, tenant_id, event_id
                )
        if self._point is not None:
            self._point.tenant_id, self._point.event_id = tenant_id, event_id

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
        self._set_claim(tenant_id, event_id)
        if event_id is None:
            log.info(
                "%s: event %s (%s) is not registered by any event",
                self.peer,
                event.event_id,
                event.name,
            )

    async def _claim_by_key(self) -> None:
        """The second rule: a provider key sent as connection id or location prefix.

        Tried only while no tenant owns the session, and each key once per connection.
        """
        if self._session is None or self._tenant_id is not None:
            return
        for key in [k for k in self._keys if k not in self._keys_tried]:
            self._keys_tried.add(key)
            try:
                async with connection(self._pool, _RESUME_TIMEOUT) as conn:
                    claimed = await timing.claim_session_by_key(conn, self._session.id, key)
            except Unavailable as exc:
                log.warning("%s: could not look up provider key %s: %s", self.peer, key, exc)
                self._keys_tried.discard(key)
                return
            if claimed is not None:
                log.info("%s: provider key %s claims it for event %d", self.peer, key, claimed[1])
                self._set_claim(*claimed)
                return
            log.info("%s: provider key %s is not issued for any live event", self.peer, key)

    def refresh_claim(self, tenant_id: int | None, event_id: int | None, status: str) -> None:
        """The session as the database has it now (a tenant or admin may have changed it)."""
        if (tenant_id, event_id) != (self._tenant_id, self._event_id):
            log.info(
                "%s: session %s now feeds event %s (was %s)",
                self.peer,
                self._session.name if self._session else "?",
                event_id,
                self._event_id,
            )
            self._set_claim(tenant_id, event_id)
        if status != "active" and not self._stopping:
            # Ended or archived by its tenant: the provider's next connection opens a new one.
            log.info("%s: session %s was %s; closing", self.peer, self.session_id, status)
            if self.identity is not None:
                # Not to be reused, even by a reconnect while the database is away.
                self._known_sessions.pop(self.identity, None)
            self.close_reason = f"session {status}"
            self.stop()

    @property
    def session_id(self) -> int | None:
        return self._session.id if self._session else None

    async def _ensure_locations(self, session_id: int, locations: tuple[str, ...]) -> None:
        if not locations:
            return
        try:
            async with connection(self._pool, _RESUME_TIMEOUT) as conn:
                for provider_name in locations:
                    name = self._stored_name(provider_name)
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
