"""The collector: a CTP01 TCP server, its ingest writer and its status server."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from zoneinfo import ZoneInfo

from app.db import catalog, timing
from app.db.pool import Pool, connection, open_pool
from app.domain.errors import Unavailable
from app.heap import freeze_startup_heap
from app.pubsub import Bus, create_bus
from app.settings import Settings
from collector.connection import KnownSession, ProviderConnection
from collector.health import DecoderHealth, metric_lines
from collector.session import Timeouts, settings_for
from collector.spool import Spool
from collector.status import StatusServer
from collector.writer import IngestWriter

log = logging.getLogger(__name__)

SERVICE = "racedisplay-collector"
_DB_CHECK_TIMEOUT = 1.0
# How long connections get to hand over what they have read when the collector stops.
_CONNECTION_GRACE = 5.0
_FLUSH_TIMEOUT = 10.0
# How often the participants' chip codes are reloaded for the unknown-chip counts.
_CHIPS_EVERY = 30.0
# How often open sessions' owner, event and status are re-read: a tenant may move, detach,
# end or archive a session, an admin may assign one; reads follow within this.
_CLAIMS_EVERY = 2.0
# How often cleanup_old_sessions() runs (SESSION_RETENTION_DAYS says how old is old).
CLEANUP_EVERY = 3600.0
# Connections from one host that have not greeted yet; a new one closes the oldest, so a
# flood of idle sockets cannot crowd out a provider that greets at once.
_UNGREETED_PER_HOST = 16


_GAUGES = frozenset({"pending", "spool_segments", "refused"})


def _version() -> str:
    try:
        return version("racedisplay")
    except PackageNotFoundError:
        return "0.0.0"


class Collector:
    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        bus: Bus,
        *,
        timeouts: Timeouts | None = None,
        claims_every: float = _CLAIMS_EVERY,
        cleanup_every: float = CLEANUP_EVERY,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._bus = bus
        self._timeouts = timeouts or Timeouts()
        self._zone = ZoneInfo(settings.timing_timezone)
        self._version = _version()
        settings_for(settings.ctp_time_format)  # fails early on a bad CTP_TIME_FORMAT
        self._ingest = IngestWriter(
            pool,
            bus,
            Spool(settings.collector_spool_dir),
            max_rows=settings.batch_max_rows,
            max_ms=settings.batch_max_ms,
        )
        self._server: asyncio.Server | None = None
        self._status = StatusServer(
            settings.collector_host, settings.status_port, self.status, self.health, self.metrics
        )
        self.decoders = DecoderHealth(settings.silent_after_s)
        self._known_sessions: dict[str, KnownSession] = {}
        self._connections: dict[ProviderConnection, asyncio.Task[Any]] = {}
        self._refused_connections = 0
        self._claims_every = claims_every
        self._cleanup_every = cleanup_every
        self._background: list[asyncio.Task[None]] = []
        self.cleanups = 0
        self._running = False
        self.current_session: str | None = None
        self.started_at: datetime | None = None
        self.tcp_port = 0
        self.status_port = 0

    async def start(self) -> None:
        self._ingest.start()
        self._server = await asyncio.start_server(
            self._serve, self._settings.collector_host, self._settings.collector_port
        )
        self.tcp_port = int(self._server.sockets[0].getsockname()[1])
        self.status_port = await self._status.start()
        self._background = [
            asyncio.create_task(self._refresh_chips(), name="collector-chips"),
            asyncio.create_task(self._refresh_claims(), name="collector-claims"),
            asyncio.create_task(self._cleanup_schedule(), name="collector-cleanup"),
        ]
        self._running = True
        self.started_at = datetime.now(UTC)
        log.info(
            "collector listening for CTP01 on %s:%d, status on :%d",
            self._settings.collector_host,
            self.tcp_port,
            self.status_port,
        )

    async def stop(self) -> None:
        """Stop accepting, let connections hand over what they read, flush, then return."""
        if not self._running:
            return
        self._running = False
        assert self._server is not None
        self._server.close()
        for conn in list(self._connections):
            conn.stop()
        tasks = list(self._connections.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=_CONNECTION_GRACE)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._ingest.stop(_FLUSH_TIMEOUT)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self._status.stop()
        log.info("collector stopped; %d reads stored since start", self._ingest.stored)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._running or len(self._connections) >= self._settings.max_connections:
            if self._running:
                self._refused_connections += 1
                log.warning("refusing a provider: %d connections open", len(self._connections))
            writer.close()
            return
        self._evict_idle_from(writer)
        conn = ProviderConnection(
            reader,
            writer,
            pool=self._pool,
            ingest=self._ingest,
            zone=self._zone,
            version=self._version,
            timeouts=self._timeouts,
            time_format=self._settings.ctp_time_format,
            health=self.decoders,
            known_sessions=self._known_sessions,
            on_session=self._session_opened,
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections[conn] = task
        try:
            await conn.run()
        except Exception:
            log.exception("connection from %s failed", conn.peer)
        finally:
            del self._connections[conn]

    def _evict_idle_from(self, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "unknown"
        idle = [c for c in self._connections if c.peer_host == host and c.awaiting_greeting]
        if len(idle) >= _UNGREETED_PER_HOST:
            oldest = min(idle, key=lambda c: c.connected_since)
            log.warning("%s: closing a connection that never greeted", oldest.peer)
            oldest.stop()

    def _session_opened(self, name: str) -> None:
        self.current_session = name

    async def _refresh_chips(self) -> None:
        """Keep each watched event's chip codes, so health can count chips nobody wears."""
        while True:
            try:
                for event_id in self.decoders.events_watched():
                    async with connection(self._pool, _DB_CHECK_TIMEOUT) as conn:
                        mode = await timing.event_tag_mode(conn, event_id)
                        chips = await timing.event_chip_codes(conn, event_id)
                    if mode is not None:
                        self.decoders.know_chips(event_id, mode, chips)
            except Unavailable:
                pass
            self.decoders.expire(asyncio.get_running_loop().time())
            await asyncio.sleep(_CHIPS_EVERY if self.decoders.chips else 2.0)

    async def _refresh_claims(self) -> None:
        """Re-read the open sessions' owner, event and status: one query for all of them."""
        while True:
            await asyncio.sleep(self._claims_every)
            try:
                await self.refresh_claims()
            except Unavailable:
                pass  # the claims in memory stand until the database is back
            except Exception:
                log.exception("refreshing session claims failed")

    async def refresh_claims(self) -> None:
        by_session: dict[int, list[ProviderConnection]] = {}
        for conn in self._connections:
            if (session_id := conn.session_id) is not None:
                by_session.setdefault(session_id, []).append(conn)
        if not by_session:
            return
        async with connection(self._pool, _DB_CHECK_TIMEOUT) as db:
            claims = await timing.session_claims(db, list(by_session))
        for claim in claims:
            for conn in by_session.get(claim.id, []):
                conn.refresh_claim(claim.tenant_id, claim.event_id, claim.status)

    async def _cleanup_schedule(self) -> None:
        while True:
            await asyncio.sleep(self._cleanup_every)
            try:
                await self.cleanup_sessions()
            except Unavailable as exc:
                log.warning("session cleanup skipped: %s", exc)
            except Exception:
                log.exception("session cleanup failed")

    async def cleanup_sessions(self) -> int:
        """Run cleanup_old_sessions() once with the configured retention; returns its count."""
        days = self._settings.session_retention_days
        connected = {c.session_id for c in self._connections if c.session_id is not None}
        async with connection(self._pool, _DB_CHECK_TIMEOUT) as db:
            count = await timing.cleanup_old_sessions(db, days, sorted(connected))
        self.cleanups += 1
        log.info(
            "session cleanup: %d session(s) idle over %d days ended or archived ones deleted",
            count,
            days,
        )
        return count

    # -- status -----------------------------------------------------------------------------

    def stats(self, event_id: int | None = None) -> dict[str, Any]:
        """Everything /status shows; with event_id, only that event's providers and points."""
        ingest = self._ingest
        providers = [conn.stats() for conn in self._connections]
        points = self.decoders.snapshot(asyncio.get_running_loop().time())
        if event_id is not None:
            providers = [p for p in providers if p["event_id"] == event_id]
            points = [p for p in points if p["event_id"] == event_id]
        return {
            "service": SERVICE,
            "version": self._version,
            "status": "running" if self._running else "stopped",
            "tcp_port": self.tcp_port,
            "status_port": self.status_port,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "connections": len(self._connections),
            "refused_connections": self._refused_connections,
            "total_reads": ingest.stored,
            "current_session": self.current_session,
            "ingest": self._ingest_figures(),
            "providers": providers,
            "points": points,
        }

    def _ingest_figures(self) -> dict[str, Any]:
        ingest = self._ingest
        return {
            "accepted": ingest.accepted,
            "stored": ingest.stored,
            "duplicates": ingest.duplicates,
            "rejects": ingest.rejects,
            "pending": ingest.pending,
            "batches": ingest.batches,
            "failures": ingest.failures,
            "spooled": ingest.spooled,
            "drained": ingest.drained,
            "spool_segments": ingest.spool_segments,
            "refused": len(ingest.refused),
            "publish_failures": ingest.publish_failures,
            "last_error": ingest.last_error,
        }

    async def metrics(self) -> str:
        """Prometheus text exposition: decoder health per point and location, and ingest."""
        lines = self.decoders.metrics(asyncio.get_running_loop().time())
        lines += metric_lines(
            "racedisplay_collector_connections", "gauge", "Open provider connections.",
            [("", len(self._connections))],
        )  # fmt: skip
        lines += metric_lines(
            "racedisplay_collector_database_up", "gauge", "1 while PostgreSQL answers.",
            [("", int(await self.database_connected()))],
        )  # fmt: skip
        for name, value in self._ingest_figures().items():
            if isinstance(value, int):
                lines += metric_lines(
                    f"racedisplay_ingest_{name}", "gauge" if name in _GAUGES else "counter",
                    f"Ingest writer: {name.replace('_', ' ')}.", [("", value)],
                )  # fmt: skip
        return "\n".join(lines) + "\n"

    async def database_connected(self) -> bool:
        try:
            async with asyncio.timeout(_DB_CHECK_TIMEOUT), connection(self._pool) as conn:
                return await catalog.ping(conn)
        # Whatever the failure (timeout, refused, auth), the answer is the same.
        except Exception:
            return False

    async def status(self, event_id: int | None = None) -> dict[str, Any]:
        stats = self.stats(event_id)
        stats["database_connected"] = await self.database_connected()
        return stats

    async def health(self) -> tuple[bool, str]:
        if not self._running:
            return False, "collector is not running"
        if not await self.database_connected():
            return False, "database unreachable"
        return True, "ok"


async def run_collector(settings: Settings) -> None:
    """A standalone collector process: runs until SIGTERM or SIGINT, then stops gracefully."""
    if not settings.database_url:
        raise ValueError("run_collector needs settings.database_url")
    # Without waiting for the database: reads are taken (and spooled) while it is away.
    pool = await open_pool(
        settings.database_url, settings.db_pool_min, settings.db_pool_max, wait=False
    )
    bus = create_bus(settings.redis_url)
    collector = Collector(settings, pool, bus)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stopping.set)
    try:
        await collector.start()
        freeze_startup_heap()
        await stopping.wait()
        log.info("stopping the collector")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await collector.stop()
        await bus.close()
        await pool.close()
