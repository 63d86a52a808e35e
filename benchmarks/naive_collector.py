"""The CTP01 collector an engineer writes first: one INSERT and one commit per read.

The baseline of `bench_ingest.py`: an asyncio TCP server that does the same CTP01 handshake
as the real collector (greeting, header and settings, getconnectionid / geteventinfo /
getlocations, then `start`), opens the same timing session and locations through
`app.db.timing`, parses each line with `ct_parser` and converts each read exactly as the
real collector does, and then stores every read with its own
`INSERT INTO timing_reads … ON CONFLICT DO NOTHING` on one shared autocommit connection,
awaited before the next line is read. No batching, no COPY, no queue, no bus.

It stores the same rows as the real collector (same sessions, locations and columns;
`received_at` aside); it does not keep resume points, gun starts, rejects or health.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, tzinfo
from typing import Any

import ct_parser
from ct_parser import Parser, Read
from psycopg import AsyncConnection

from app.db import timing
from collector import times
from collector.session import QUESTIONS, settings_for

log = logging.getLogger(__name__)

INSERT_READ = """
INSERT INTO timing_reads (session_id, location_id, sequence_number, location_name, tag_code,
                          read_time, read_at, lap_count, reader_id, gator_number, raw_line,
                          received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT timing_reads_idempotency_key DO NOTHING
"""
MAX_LINE = 4096
HANDSHAKE_TIMEOUT = 30.0


class NaiveCollector:
    """`await start()`, replay into `tcp_port`, then `await stop()`; counts in `handled`."""

    def __init__(
        self,
        database_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_format: str = "iso",
        zone: tzinfo = UTC,
    ) -> None:
        self._url = database_url
        self._host = host
        self._port = port
        self._settings = settings_for(time_format)
        self._zone = zone
        self._conn: AsyncConnection[Any] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.tcp_port = 0
        # Reads taken off the socket and INSERTed (committed), new or not.
        self.handled = 0
        # Of those, the ones the INSERT added.
        self.stored = 0

    async def start(self) -> None:
        self._conn = await AsyncConnection.connect(self._url, autocommit=True)
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self.tcp_port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
        self._server = self._conn = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._provider(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            log.info("naive collector: connection ended: %s", exc)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _provider(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self._conn
        assert conn is not None
        parser = Parser(max_line_len=MAX_LINE)

        def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        # 1. The provider greets: `<program>~<version>~CTP01`.
        program = version = ""
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while not program:
                line = await reader.readline()
                if not line:
                    return
                for s in parser.feed(line).sessions:
                    if s.kind == "greeting":
                        program, version = s.fields[0], s.fields[1]
        # 2. Our header and settings, 3. the three questions.
        send(f"RaceDisplay~1.0~{len(self._settings)}")
        for key, value in self._settings:
            send(f"{key}={value}")
        for question in QUESTIONS:
            send(question)
        await writer.drain()
        connection_id: str | None = None
        event: list[str] = []
        locations: list[str] = []
        unanswered = set(QUESTIONS)
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while unanswered:
                line = await reader.readline()
                if not line:
                    return
                for s in parser.feed(line).sessions:
                    if s.kind != "ack" or not s.fields:
                        continue
                    command, values = s.fields[0], s.fields[1:]
                    if command == "getconnectionid":
                        connection_id = values[0].strip() if values else None
                    elif command == "geteventinfo":
                        event = [*values, "", ""][:2]
                    elif command == "getlocations":
                        locations = [v for v in values if v]
                    unanswered.discard(command)
        # 4. The timing session and its locations, as the real collector opens them.
        peer = writer.get_extra_info("peername")
        identity = connection_id or f"{program or 'unknown'}@{peer[0] if peer else 'unknown'}"
        session = await timing.open_session(
            conn,
            provider_identity=identity,
            session_name=datetime.now(UTC).strftime("Session_%Y%m%d_%H%M%S"),
            provider_program=program,
            provider_version=version,
        )
        if event and event[1]:
            await timing.claim_session(conn, session.id, event[1], event[0])
        location_ids: dict[str, int] = {}
        for name in locations:
            location_ids[name] = await timing.ensure_location(conn, session.id, name)
        default_location = locations[0] if locations else ""
        send("start")
        await writer.drain()
        # 5. Line by line: one INSERT (one commit) per read.
        while line := await reader.readline():
            batch = parser.feed(line)
            for s in batch.sessions:
                if s.kind == "ping" and s.fields[:1] != ["ack"]:
                    send("ack~ping")
            for read in batch.reads:
                location = read.location or default_location
                if location not in location_ids:
                    location_ids[location] = await timing.ensure_location(
                        conn, session.id, location, read.reader or None
                    )
                cur = await conn.execute(
                    INSERT_READ,
                    (
                        session.id,
                        location_ids[location],
                        read.seq,
                        location,
                        read.tag,
                        read.time_raw,
                        self._read_at(read),
                        read.lap,
                        read.reader,
                        read.antenna,
                        read.raw.decode("utf-8", "replace"),
                        datetime.now(UTC),
                    ),
                )
                self.handled += 1
                self.stored += cur.rowcount
            if batch.sessions:
                await writer.drain()

    def _read_at(self, read: Read) -> datetime:
        if read.time_kind == ct_parser.LOCAL:
            return times.from_local_us(read.time_us, self._zone)
        if read.time_kind == ct_parser.UNIX:
            return times.from_unix_us(read.time_us)
        return times.from_time_of_day_us(read.time_us, datetime.now(UTC), self._zone)
