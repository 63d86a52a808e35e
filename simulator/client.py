"""The provider side of one CTP01 connection, as ChronoTrack SimpleClient behaves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from simulator.sources import GUN_TAG, SimRead, Stream

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 256
NEW_LOCATION_TAG = "newlocation"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    program: str = "SimpleClient"
    version: str = "0.6.0"
    event_name: str = "Demo Harbor Marathon"
    event_id: str = "DEMO-2021"
    event_description: str = "Replayed by the RaceDisplay simulator"
    # How long to wait for the collector's `start` (and for its answer to the last ping).
    handshake_timeout: float = 60.0


def format_time(epoch_us: int, time_format: str, zone: tzinfo = UTC) -> str:
    """The CT01 time field for an epoch, with hundredths as SimpleClient sends them.

    `normal` and `iso` carry no zone: they are the wall clock of the timing setup in `zone`.
    """
    secs, micros = divmod(epoch_us, 1_000_000)
    hundredths = micros // 10_000
    if time_format == "unix":
        return f"{secs}.{hundredths:02d}"
    if time_format == "msecs":
        return str(epoch_us // 1000)
    moment = _EPOCH + timedelta(seconds=secs)
    if zone is not UTC:
        moment = moment.astimezone(zone)
    if time_format == "iso":
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{hundredths:02d}"
    return f"{moment:%H:%M:%S}.{hundredths:02d}"


def read_line(read: SimRead, time_text: str) -> str:
    return (
        f"CT01_33~{read.seq}~{read.location}~{read.tag}~{time_text}~{read.lap}"
        f"~{read.reader}~{read.antenna}\r\n"
    )


@dataclass(slots=True)
class ConnectionResult:
    connection_id: str
    reads_sent: int = 0
    error: str | None = None
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When to send each read and which time to write in it (built by simulator.replay)."""

    # Seconds after `started` (loop time) to send a read; None: as fast as the collector takes.
    send_offset: Callable[[SimRead], float] | None
    # The epoch µs written in the read's time field.
    stamp: Callable[[SimRead], int]
    started: float
    # The zone of the wall-clock time formats (the collector's TIMING_TIMEZONE must match).
    zone: tzinfo = UTC


class SimulatedProvider:
    def __init__(self, stream: Stream, info: ProviderInfo, schedule: Schedule) -> None:
        self.stream = stream
        self.info = info
        self.schedule = schedule
        self.result = ConnectionResult(stream.connection_id)
        self._writer: asyncio.StreamWriter | None = None
        self._start = asyncio.Event()
        self._pong = asyncio.Event()
        # Location -> first seq to send; None key means every location.
        self._from_seq: dict[str | None, int] = {}
        self._peer_closed = False

    async def run(self, host: str, port: int) -> ConnectionResult:
        try:
            await self._run(host, port)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"
            log.error("%s: %s", self.stream.connection_id, self.result.error)
        return self.result

    async def _run(self, host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        self._writer = writer
        listener: asyncio.Task[None] | None = None
        try:
            writer.write(f"{self.info.program}~{self.info.version}~CTP01\r\n".encode())
            async with asyncio.timeout(self.info.handshake_timeout):
                settings = await self._read_header(reader)
            self.result.settings = settings
            listener = asyncio.create_task(self._listen(reader))
            async with asyncio.timeout(self.info.handshake_timeout):
                await self._start.wait()
            await self._push(settings)
            self._pong.clear()
            writer.write(b"ping\r\n")
            await writer.drain()
            try:
                async with asyncio.timeout(self.info.handshake_timeout):
                    await self._pong.wait()
            except TimeoutError:
                log.warning("%s: no answer to the final ping", self.stream.connection_id)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            writer.close()
            try:
                async with asyncio.timeout(2):
                    await writer.wait_closed()
            except (TimeoutError, OSError):
                pass

    @staticmethod
    async def _read_header(reader: asyncio.StreamReader) -> dict[str, str]:
        header = (await reader.readuntil(b"\n")).decode().strip().split("~")
        if len(header) != 3 or not header[2].isdigit():
            raise ValueError(f"unexpected header {'~'.join(header)!r}")
        settings: dict[str, str] = {}
        for _ in range(int(header[2])):
            key, _, value = (await reader.readuntil(b"\n")).decode().strip().partition("=")
            settings[key] = value
        return settings

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        try:
            while raw := await reader.readline():
                line = raw.decode(errors="replace").strip()
                if line:
                    self._command(line.split("~"))
        finally:
            # Nothing more will come: let a pusher waiting for `start` notice the close.
            self._peer_closed = True
            self._start.set()
            self._pong.set()

    def _command(self, f: list[str]) -> None:
        cmd = f[0]
        if cmd == "getconnectionid":
            self._send(f"ack~getconnectionid~{self.stream.connection_id}")
        elif cmd == "geteventinfo":
            i = self.info
            self._send(f"ack~geteventinfo~{i.event_name}~{i.event_id}~{i.event_description}")
        elif cmd == "getlocations":
            self._send("ack~getlocations~" + "~".join(self.stream.locations))
        elif cmd == "ping":
            if f[1:2] == ["ack"]:
                self._pong.set()
            else:
                self._send("ack~ping")
        elif cmd == "ack" and f[1:2] == ["ping"]:
            self._pong.set()
        elif cmd == "start":
            location = f[1] if len(f) > 1 and f[1] else None
            first = int(f[2]) if len(f) > 2 and f[2].isdigit() else 0
            self._from_seq[location] = first
            self._start.set()
        elif cmd == "stop":
            if len(f) > 1 and f[1]:
                self._from_seq.pop(f[1], None)
            else:
                self._from_seq.clear()
        else:
            log.debug("%s: ignoring %r", self.stream.connection_id, "~".join(f))

    def _send(self, line: str) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(line.encode() + b"\r\n")

    def _wanted(self, read: SimRead, settings: dict[str, str]) -> bool:
        if read.tag == GUN_TAG and settings.get("guntimes") != "true":
            return False
        if read.tag == NEW_LOCATION_TAG and settings.get("newlocations") != "true":
            return False
        first = self._from_seq.get(read.location, self._from_seq.get(None))
        return first is not None and read.seq >= first

    async def _push(self, settings: dict[str, str]) -> None:
        writer = self._writer
        assert writer is not None
        time_format = settings.get("time-format", "normal")
        schedule = self.schedule
        loop = asyncio.get_running_loop()
        chunk: list[str] = []
        due = schedule.started
        for read in self.stream.reads:
            if self._peer_closed:
                raise ConnectionResetError("the collector closed the connection")
            if not self._wanted(read, settings):
                continue
            if schedule.send_offset is not None:
                # Never earlier than the read before it: a read that goes back in time is
                # sent late, as a controller emits it when the tag leaves the field.
                due = max(due, schedule.started + schedule.send_offset(read))
                if due > loop.time():
                    if chunk:
                        await self._write(writer, chunk)
                    await asyncio.sleep(due - loop.time())
            text = format_time(schedule.stamp(read), time_format, schedule.zone)
            chunk.append(read_line(read, text))
            if len(chunk) >= _CHUNK:
                await self._write(writer, chunk)
        if chunk:
            await self._write(writer, chunk)
        if self._peer_closed:
            raise ConnectionResetError("the collector closed the connection")

    async def _write(self, writer: asyncio.StreamWriter, chunk: list[str]) -> None:
        writer.write("".join(chunk).encode())
        self.result.reads_sent += len(chunk)
        chunk.clear()
        await writer.drain()
