"""The collector: a CTP01 TCP server, its ingest writer and its status server."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from zoneinfo import ZoneInfo

from app.db import catalog
from app.db.pool import Pool, connection, open_pool
from app.pubsub import Bus, create_bus
from app.settings import Settings
from collector.connection import ProviderConnection
from collector.session import Timeouts
from collector.status import StatusServer
from collector.writer import IngestWriter

log = logging.getLogger(__name__)

SERVICE = "racedisplay-collector"
_DB_CHECK_TIMEOUT = 1.0
# How long connections get to hand over what they have read when the collector stops.
_CONNECTION_GRACE = 5.0
_FLUSH_TIMEOUT = 10.0


def _version() -> str:
    try:
        return version("racedisplay")
    except PackageNotFoundError:
        return "0.0.0"


class Collector:
    def __init__(
        self, settings: Settings, pool: Pool, bus: Bus, *, timeouts: Timeouts | None = None
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._bus = bus
        self._timeouts = timeouts or Timeouts()
        self._zone = ZoneInfo(settings.timing_timezone)
        self._version = _version()
        self._ingest = IngestWriter(
            pool, bus, max_rows=settings.batch_max_rows, max_ms=settings.batch_max_ms
        )
        self._server: asyncio.Server | None = None
        self._status = StatusServer(
            settings.collector_host, settings.status_port, self.status, self.health
        )
        self._connections: dict[ProviderConnection, asyncio.Task[Any]] = {}
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
        await self._status.stop()
        log.info("collector stopped; %d reads stored since start", self._ingest.stored)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._running:
            writer.close()
            return
        conn = ProviderConnection(
            reader,
            writer,
            pool=self._pool,
            ingest=self._ingest,
            zone=self._zone,
            version=self._version,
            timeouts=self._timeouts,
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

    def _session_opened(self, name: str) -> None:
        self.current_session = name

    # -- status -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        ingest = self._ingest
        return {
            "service": SERVICE,
            "version": self._version,
            "status": "running" if self._running else "stopped",
            "tcp_port": self.tcp_port,
            "status_port": self.status_port,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "connections": len(self._connections),
            "total_reads": ingest.stored,
            "current_session": self.current_session,
            "ingest": {
                "accepted": ingest.accepted,
                "stored": ingest.stored,
                "duplicates": ingest.duplicates,
                "pending": ingest.pending,
                "batches": ingest.batches,
                "failures": ingest.failures,
                "refused": len(ingest.refused),
                "publish_failures": ingest.publish_failures,
                "last_error": ingest.last_error,
            },
            "providers": [conn.stats() for conn in self._connections],
        }

    async def database_connected(self) -> bool:
        try:
            async with asyncio.timeout(_DB_CHECK_TIMEOUT), connection(self._pool) as conn:
                return await catalog.ping(conn)
        # Whatever the failure (timeout, refused, auth), the answer is the same.
        except Exception:
            return False

    async def status(self) -> dict[str, Any]:
        stats = self.stats()
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
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    bus = create_bus(settings.redis_url)
    collector = Collector(settings, pool, bus)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stopping.set)
    try:
        await collector.start()
        await stopping.wait()
        log.info("stopping the collector")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await collector.stop()
        await bus.close()
        await pool.close()
