"""The provider side of one CTP01 connection, as ChronoTrack SimpleClient behaves."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from simulator import chaos as chaos_mod
from simulator.chaos import ChaosOptions
from simulator.sources import GUN_TAG, SimRead, Stream

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 256
NEW_LOCATION_TAG = "newlocation"
# Reconnect backoff: doubles from the first to the last, back to the first after a handshake.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 2.0
# How long a chaos drop waits for the collector to close its side after ours.
_DROP_GRACE = 5.0
_HUGE_PIECE = 64 * 1024


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
    return f"{_wall_second(secs, time_format, zone)}.{hundredths:02d}"


@lru_cache(maxsize=4096)
def _wall_second(secs: int, time_format: str, zone: tzinfo) -> str:
    # Reads come many to a second: formatting each second once keeps a fast replay cheap.
    moment = _EPOCH + timedelta(seconds=secs)
    if zone is not UTC:
        moment = moment.astimezone(zone)
    if time_format == "iso":
        return f"{moment:%Y-%m-%dT%H:%M:%S}"
    return f"{moment:%H:%M:%S}"


def read_line(read: SimRead, time_text: str) -> str:
    return (
        f"CT01_33~{read.seq}~{read.location}~{read.tag}~{time_text}~{read.lap}"
        f"~{read.reader}~{read.antenna}\r\n"
    )


@dataclass(slots=True)
class ConnectionResult:
    connection_id: str
    # Read lines written, resends included.
    reads_sent: int = 0
    error: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    # Handshakes that got as far as `start`.
    connects: int = 0
    # Connection attempts after the first one (with --reconnect), refused ones included.
    reconnects: int = 0
    # Connections the simulator dropped on purpose (chaos).
    drops: int = 0
    # Read lines for reads that had been sent before, on an earlier connection.
    resent: int = 0
    garbage_lines: int = 0
    huge_lines: int = 0
    # Why the last connection ended, when it ended badly (kept with --reconnect too).
    last_error: str | None = None

    def summary(self) -> str:
        state = f"error: {self.error}" if self.error else "ok"
        return (
            f"{self.reads_sent} reads ({self.resent} resent), {self.connects} connects, "
            f"{self.reconnects} reconnects, {self.drops} drops, {self.garbage_lines} garbage, "
            f"{self.huge_lines} huge; {state}"
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """When to send each read and which time to write in it (built by simulator.replay)."""

    # Seconds after `started` (loop time) to send a read; None: as fast as the collector takes.
    send_offset: Callable[[SimRead], float] | None
    # The epoch µs written in the read's time field; a pure function of the read, so a read
    # sent again after a reconnect is the same line.
    stamp: Callable[[SimRead], int]
    started: float
    # The zone of the wall-clock time formats (the collector's TIMING_TIMEZONE must match).
    zone: tzinfo = UTC


class Dropped(Exception):
    """The simulator dropped the connection on purpose (--drop-rate)."""


_CONNECTION_ERRORS = (OSError, TimeoutError, ValueError, EOFError, Dropped)


class SimulatedProvider:
    """One provider: a connection (or, with reconnect, a series of them) for one stream.

    Each connection honours the collector's `start` lines: `start~LOC~N` sends LOC from seq
    N on, `start~LOC` and a plain `start` from the first read, whatever was sent before.
    """

    def __init__(
        self,
        stream: Stream,
        info: ProviderInfo,
        schedule: Schedule,
        *,
        chaos: ChaosOptions | None = None,
        reconnect: bool = False,
        linger: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.stream = stream
        self.info = info
        self.schedule = schedule
        self.chaos = chaos or ChaosOptions()
        self.reconnect = reconnect
        self.linger = linger
        self._stop = stop
        self.result = ConnectionResult(stream.connection_id)
        self._rng = chaos_mod.connection_rng(self.chaos.seed, stream.connection_id)
        # 1 for each read (by index) sent on any connection so far.
        self._ever_sent = bytearray(len(stream.reads))
        # Loop time when the linger ends; set once, when the whole stream has been sent.
        self._linger_until: float | None = None
        self._reset_connection_state()

    def _reset_connection_state(self) -> None:
        self._writer: asyncio.StreamWriter | None = None
        self._start = asyncio.Event()
        self._pong = asyncio.Event()
        self._ponged = False
        # Set when the collector's side is closed (EOF or error on the socket).
        self._closed = asyncio.Event()
        # Set by each `start`, so a lingering connection pushes what a late one asks.
        self._wake = asyncio.Event()
        # Location -> first seq to send; None key means every location.
        self._from_seq: dict[str | None, int] = {}
        self._peer_closed = False
        self._half_closed = False
        # A `start` came while pushing: look again at reads already passed over.
        self._rescan = False
        # 1 for each read (by index) sent on this connection.
        self._sent_now = bytearray(len(self.stream.reads))

    # -- the connection loop -------------------------------------------------------------

    async def run(self, host: str, port: int) -> ConnectionResult:
        if not self.reconnect:
            try:
                await self._unless_stopped(self._connection(host, port))
            except _CONNECTION_ERRORS as exc:
                self.result.error = self.result.last_error = f"{type(exc).__name__}: {exc}"
                log.error("%s: %s", self.stream.connection_id, self.result.error)
            return self.result
        cid = self.stream.connection_id
        backoff = BACKOFF_FIRST
        attempt = 0
        while True:
            if attempt:
                self.result.reconnects += 1
            attempt += 1
            connects = self.result.connects
            try:
                outcome = await self._unless_stopped(self._connection(host, port))
            except _CONNECTION_ERRORS as exc:
                outcome = False
                self.result.last_error = f"{type(exc).__name__}: {exc}"
                level = logging.DEBUG if isinstance(exc, ConnectionRefusedError) else logging.INFO
                log.log(level, "%s: connection ended: %s", cid, self.result.last_error)
            if outcome is None or outcome:
                # Stopped, or the stream has been sent and the linger is over.
                break
            if self.result.connects > connects:
                backoff = BACKOFF_FIRST
            if self._linger_over():
                break
            if await self._stopped_within(backoff):
                break
            backoff = min(BACKOFF_MAX, backoff * 2)
        return self.result

    def _linger_over(self) -> bool:
        until = self._linger_until
        return until is not None and asyncio.get_running_loop().time() >= until

    async def _unless_stopped(self, coro: Coroutine[Any, Any, bool]) -> bool | None:
        """The coroutine's result, or None when the stop event came first (it is cancelled)."""
        stop = self._stop
        if stop is None:
            return await coro
        task = asyncio.create_task(coro)
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
                # Its finally closes the socket; wait for that before going on.
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return None
        return task.result()

    async def _stopped_within(self, seconds: float) -> bool:
        if self._stop is None:
            await asyncio.sleep(seconds)
            return False
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            return False
        return True

    # -- one connection ------------------------------------------------------------------

    async def _connection(self, host: str, port: int) -> bool:
        """One connection; True when the stream has been sent (and the linger is over)."""
        self._reset_connection_state()
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
            self._check_open()
            self.result.connects += 1
            await self._huge_line(writer)
            await self._push(settings)
            if self.linger is not None:
                await self._linger(settings)
            return await self._final_ping(writer)
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

    def _check_open(self) -> None:
        if self._peer_closed:
            raise ConnectionResetError("the collector closed the connection")

    async def _final_ping(self, writer: asyncio.StreamWriter) -> bool:
        self._pong.clear()
        self._ponged = False
        writer.write(b"ping\r\n")
        await writer.drain()
        try:
            async with asyncio.timeout(self.info.handshake_timeout):
                await self._pong.wait()
        except TimeoutError:
            log.warning("%s: no answer to the final ping", self.stream.connection_id)
        if self.reconnect and self._peer_closed and not self._ponged and not self._linger_over():
            # The collector went before it answered, so perhaps before it took the last
            # reads: connect again and send what it asks for.
            raise ConnectionResetError("the collector closed the connection before the last ping")
        return True

    async def _linger(self, settings: dict[str, str]) -> None:
        """Stay connected, answering pings, until the linger is over."""
        loop = asyncio.get_running_loop()
        if self._linger_until is None:
            assert self.linger is not None
            self._linger_until = loop.time() + self.linger
        while (remaining := self._linger_until - loop.time()) > 0:
            if self._rescan:
                # A late `start` (a new location): send what it asks.
                await self._push(settings)
                continue
            self._wake.clear()
            waiters = [
                asyncio.create_task(self._closed.wait()),
                asyncio.create_task(self._wake.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            self._check_open()

    async def _huge_line(self, writer: asyncio.StreamWriter) -> None:
        size = self.chaos.huge_line
        if not size or self.result.huge_lines:
            return
        data = chaos_mod.huge_line(size)
        for at in range(0, len(data), _HUGE_PIECE):
            writer.write(data[at : at + _HUGE_PIECE])
            await writer.drain()
        self.result.huge_lines += 1

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
        except OSError:
            pass
        finally:
            # Nothing more will come: let a pusher waiting for `start` notice the close.
            self._peer_closed = True
            self._closed.set()
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
                self._ponged = True
                self._pong.set()
            else:
                self._send("ack~ping")
        elif cmd == "ack" and f[1:2] == ["ping"]:
            self._ponged = True
            self._pong.set()
        elif cmd == "start":
            location = f[1] if len(f) > 1 and f[1] else None
            first = int(f[2]) if len(f) > 2 and f[2].isdigit() else 0
            self._from_seq[location] = first
            self._rescan = True
            self._start.set()
            self._wake.set()
        elif cmd == "stop":
            if len(f) > 1 and f[1]:
                self._from_seq.pop(f[1], None)
            else:
                self._from_seq.clear()
        else:
            log.debug("%s: ignoring %r", self.stream.connection_id, "~".join(f))

    def _send(self, line: str) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing() and not self._half_closed:
            writer.write(line.encode() + b"\r\n")

    def _wanted(self, read: SimRead, settings: dict[str, str]) -> bool:
        if read.tag == GUN_TAG and settings.get("guntimes") != "true":
            return False
        if read.tag == NEW_LOCATION_TAG and settings.get("newlocations") != "true":
            return False
        first = self._from_seq.get(read.location, self._from_seq.get(None))
        return first is not None and read.seq >= first

    # -- pushing reads -------------------------------------------------------------------

    async def _push(self, settings: dict[str, str]) -> None:
        """Send every wanted read not yet sent on this connection, paced by the schedule."""
        writer = self._writer
        assert writer is not None
        time_format = settings.get("time-format", "normal")
        schedule = self.schedule
        chaos = self.chaos
        rng = self._rng
        reads = self.stream.reads
        sent_now, ever_sent = self._sent_now, self._ever_sent
        loop = asyncio.get_running_loop()
        out = _Pending()
        due = schedule.started
        self._rescan = False
        backlog: deque[int] = deque()
        i = 0
        while True:
            self._check_open()
            if self._rescan:
                # A `start` that came meanwhile may ask for reads passed over already.
                self._rescan = False
                backlog.extend(k for k in range(i) if not sent_now[k])
            if backlog:
                k = backlog.popleft()
            elif i < len(reads):
                k = i
                i += 1
            else:
                break
            read = reads[k]
            if sent_now[k] or not self._wanted(read, settings):
                continue
            if schedule.send_offset is not None:
                # Never earlier than the read before it: a read that goes back in time is
                # sent late, as a controller emits it when the tag leaves the field. After a
                # reconnect the timeline has run on: what is overdue goes at once.
                due = max(due, schedule.started + schedule.send_offset(read))
                if due > loop.time():
                    await self._write(writer, out)
                    await self._sleep_unless_closed(due - loop.time())
                    self._check_open()
                    if self._rescan:
                        # Read k is not sent yet, so the rescan takes it up again in order.
                        continue
            text = format_time(schedule.stamp(read), time_format, schedule.zone)
            line = read_line(read, text)
            if chaos.active:
                if chaos_mod.should(rng, chaos.garbage_rate):
                    junk = chaos_mod.garbage_line(rng, read.location)
                    out.add_garbage(junk + chaos_mod.line_end(rng, chaos.mixed_eol))
                if chaos.mixed_eol:
                    line = line[:-2] + chaos_mod.line_end(rng, True).decode()
            out.add_read(line.encode(), resent=bool(ever_sent[k]))
            sent_now[k] = ever_sent[k] = 1
            if (
                chaos.drop_rate
                and self._may_drop_after(k)
                and chaos_mod.should(rng, chaos.drop_rate)
            ):
                await self._write(writer, out)
                await self._drop(writer)
            if out.lines >= _CHUNK:
                await self._write(writer, out)
        await self._write(writer, out)
        self._check_open()

    def _may_drop_after(self, k: int) -> bool:
        """Not between two reads of one location sharing a seq (a gun time and the read it
        came before): the collector resumes after the last seq it has, so it would skip one."""
        reads = self.stream.reads
        if k + 1 >= len(reads):
            return True
        here, after = reads[k], reads[k + 1]
        return not (here.seq == after.seq and here.location == after.location)

    async def _sleep_unless_closed(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._closed.wait()
        except TimeoutError:
            pass

    async def _write(self, writer: asyncio.StreamWriter, out: _Pending) -> None:
        if not out.data:
            return
        data = bytes(out.data)
        result = self.result
        result.reads_sent += out.lines
        result.resent += out.resent
        result.garbage_lines += out.garbage
        out.clear()
        if not self.chaos.split:
            writer.write(data)
            await writer.drain()
            return
        for piece in chaos_mod.split_pieces(data, self._rng):
            writer.write(piece)
            await writer.drain()
            # Let the bytes go out on their own, so the collector may see each piece alone.
            await asyncio.sleep(0)

    async def _drop(self, writer: asyncio.StreamWriter) -> None:
        """Hang up mid-stream, without a final ping, but never inside a line: every byte
        written reaches the collector before our FIN, so it sees no truncated line."""
        self.result.drops += 1
        transport = writer.transport
        transport.set_write_buffer_limits(high=0)
        await writer.drain()
        self._half_closed = True
        if writer.can_write_eof():
            writer.write_eof()
            # Closing with unread input would send a reset that can discard what is in
            # flight; the listener reads until the collector closes its side.
            try:
                async with asyncio.timeout(_DROP_GRACE):
                    await self._closed.wait()
            except TimeoutError:
                pass
        raise Dropped(f"dropped on purpose after {self.result.reads_sent} read lines")


class _Pending:
    """Bytes waiting to be written, with what they count for."""

    __slots__ = ("data", "garbage", "lines", "resent")

    def __init__(self) -> None:
        self.data = bytearray()
        self.lines = 0
        self.resent = 0
        self.garbage = 0

    def add_read(self, line: bytes, *, resent: bool) -> None:
        self.data += line
        self.lines += 1
        self.resent += resent

    def add_garbage(self, line: bytes) -> None:
        self.data += line
        self.garbage += 1

    def clear(self) -> None:
        self.data.clear()
        self.lines = self.resent = self.garbage = 0
