"""The CTP01 session of one provider connection, as a state machine that does no I/O."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from ct_parser import ParseError, Parser, Read, SessionLine

log = logging.getLogger(__name__)

TIME_FORMATS = ("iso", "normal", "unix", "msecs")


def settings_for(time_format: str = "iso") -> tuple[tuple[str, str], ...]:
    """What we ask every provider for, in the order sent (the CTP01 session, step 2)."""
    if time_format not in TIME_FORMATS:
        raise ValueError(f"time format must be one of {', '.join(TIME_FORMATS)}")
    return (
        ("stream-mode", "push"),
        ("time-format", time_format),
        ("guntimes", "true"),
        ("newlocations", "true"),
        ("location", "multi"),
    )


QUESTIONS: tuple[str, ...] = ("getconnectionid", "geteventinfo", "getlocations")
NEW_LOCATION_TAG = "newlocation"


class Phase(Enum):
    GREETING = "greeting"
    # Header, settings and questions sent; waiting for the provider's acks.
    HANDSHAKE = "handshake"
    # Acks in (or given up on); the connection is opening its timing session.
    SETUP = "setup"
    STREAMING = "streaming"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Timeouts:
    greeting: float = 30.0
    acks: float = 5.0
    ping_interval: float = 10.0
    missed_pings: int = 3
    bad_greetings: int = 3


@dataclass(frozen=True, slots=True)
class EventInfo:
    name: str
    event_id: str
    description: str


@dataclass(frozen=True, slots=True)
class Greeted:
    program: str
    version: str


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    connection_id: str | None
    event: EventInfo | None
    locations: tuple[str, ...]
    unanswered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventInfoChanged:
    event: EventInfo


@dataclass(frozen=True, slots=True)
class LocationsChanged:
    locations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReadsReceived:
    reads: list[Read]


@dataclass(frozen=True, slots=True)
class LineRejected:
    error: ParseError


@dataclass(frozen=True, slots=True)
class ProviderError:
    command: str
    message: str


@dataclass(frozen=True, slots=True)
class Closed:
    reason: str


Event: TypeAlias = (
    Greeted
    | HandshakeDone
    | EventInfoChanged
    | LocationsChanged
    | ReadsReceived
    | LineRejected
    | ProviderError
    | Closed
)
_Item: TypeAlias = Read | SessionLine | ParseError


class Ctp01Session:
    """Feed it bytes and clock ticks; it returns events and queues the bytes to send.

    The owner writes `data_to_send()` to the socket, opens the timing session on
    HandshakeDone and then calls `start()`, and closes the socket on Closed.
    """

    def __init__(
        self,
        parser: Parser,
        now: float,
        *,
        program: str = "RaceDisplay",
        version: str = "1.0",
        timeouts: Timeouts | None = None,
        time_format: str = "iso",
    ) -> None:
        self._parser = parser
        self.settings = settings_for(time_format)
        self._program = program
        self._version = version
        self._t = timeouts = timeouts or Timeouts()
        self._out = bytearray()
        self.phase = Phase.GREETING
        self.provider_program = ""
        self.provider_version = ""
        self.connection_id: str | None = None
        self.event: EventInfo | None = None
        self.locations: tuple[str, ...] = ()
        self._bad_greetings = 0
        self._deadline: float | None = now + timeouts.greeting
        self._unanswered_questions: list[str] = []
        self._next_ping: float | None = None
        self._unanswered_pings = 0
        # Locations asked for by name, so a newlocation read starts each one once.
        self._started: set[str] = set()
        self._started_all = False

    # -- inputs -----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        if self.closed:
            return []
        batch = self._parser.feed(data)
        if not batch.sessions and not batch.errors:
            return self._handle([], batch.reads, now)
        items: list[_Item] = [*batch.reads, *batch.sessions, *batch.errors]
        items.sort(key=lambda item: item.line)
        return self._handle(items, None, now)

    def receive_eof(self, now: float) -> list[Event]:
        """The peer closed its side: parse the unterminated tail, then close."""
        if self.closed:
            return []
        batch = self._parser.finish()
        items: list[_Item] = [*batch.reads, *batch.sessions, *batch.errors]
        items.sort(key=lambda item: item.line)
        events = self._handle(items, None, now)
        if not self.closed:
            events.append(self._close("peer closed the connection"))
        return events

    def tick(self, now: float) -> list[Event]:
        """Act on timers that are due: greeting and ack timeouts, keepalive pings."""
        events: list[Event] = []
        if self.closed:
            return events
        if self._deadline is not None and now >= self._deadline:
            if self.phase is Phase.GREETING:
                events.append(self._close("no CTP01 greeting"))
                return events
            if self.phase is Phase.HANDSHAKE:
                events.append(self._handshake_done())
        if self._next_ping is not None and now >= self._next_ping:
            if self._unanswered_pings >= self._t.missed_pings:
                events.append(self._close(f"{self._unanswered_pings} pings unanswered"))
                return events
            self._send("ping")
            self._unanswered_pings += 1
            self._next_ping = now + self._t.ping_interval
        return events

    def next_deadline(self) -> float | None:
        """When tick() next has something to do (None: only incoming data matters)."""
        times = [t for t in (self._deadline, self._next_ping) if t is not None]
        return min(times) if times else None

    def start(self, resume: Mapping[str, int] | None = None) -> None:
        """The timing session is open: ask the provider to push reads.

        resume maps a location to the last seq durably stored for it; such a location is
        asked for `start~<location>~<seq + 1>`, the others by name, and with nothing to
        resume a plain `start` asks for every location.
        """
        if self.phase is not Phase.SETUP:
            return
        self.phase = Phase.STREAMING
        if not resume:
            self._started_all = True
            self._send("start")
            return
        for location in dict.fromkeys([*self.locations, *self._started, *resume]):
            last = resume.get(location)
            self._send(f"start~{location}" if last is None else f"start~{location}~{last + 1}")
            self._started.add(location)

    def close(self, reason: str) -> Closed:
        return self._close(reason)

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- handling -----------------------------------------------------------------------

    def _handle(self, items: list[_Item], reads_only: list[Read] | None, now: float) -> list[Event]:
        events: list[Event] = []
        if reads_only is not None:
            if reads_only:
                self._reads(reads_only, events, now)
            return events
        run: list[Read] = []
        for item in items:
            if self.closed:
                break
            if isinstance(item, Read):
                run.append(item)
                continue
            if run:
                self._reads(run, events, now)
                run = []
            if self.closed:
                break
            if isinstance(item, SessionLine):
                self._session_line(item, events, now)
            else:
                self._error(item, events)
        if run and not self.closed:
            self._reads(run, events, now)
        return events

    def _reads(self, reads: list[Read], events: list[Event], now: float) -> None:
        if self.phase is Phase.GREETING:
            for _ in reads:
                self._bad_greeting(events)
                if self.closed:
                    return
            return
        for read in reads:
            if read.tag == NEW_LOCATION_TAG:
                self._new_location(read.location)
        events.append(ReadsReceived(reads))

    def _error(self, error: ParseError, events: list[Event]) -> None:
        events.append(LineRejected(error))
        if error.reason == "line_too_long":
            events.append(self._close("line too long"))
        elif self.phase is Phase.GREETING:
            self._bad_greeting(events)

    def _session_line(self, line: SessionLine, events: list[Event], now: float) -> None:
        if self.phase is Phase.GREETING:
            if line.kind == "greeting" and len(line.fields) >= 2:
                self._greeted(line.fields[0], line.fields[1], events, now)
            else:
                self._bad_greeting(events)
            return
        kind = line.kind
        if kind == "ping":
            if line.fields[:1] == ["ack"]:
                self._unanswered_pings = 0
            else:
                self._send("ack~ping")
        elif kind == "ack":
            self._ack(line.fields, events)
        elif kind == "err":
            command = line.fields[0] if line.fields else ""
            message = "~".join(line.fields[1:])
            events.append(ProviderError(command, message))
            self._answered(command, events)
        else:
            # A second greeting, an echoed header or a command: nothing we act on.
            log.debug("ignoring %s line %r", kind, line.raw)

    def _greeted(self, program: str, version: str, events: list[Event], now: float) -> None:
        self.provider_program, self.provider_version = program, version
        events.append(Greeted(program, version))
        self._send(f"{self._program}~{self._version}~{len(self.settings)}")
        for key, value in self.settings:
            self._send(f"{key}={value}")
        for question in QUESTIONS:
            self._send(question)
        self._unanswered_questions = list(QUESTIONS)
        self.phase = Phase.HANDSHAKE
        self._deadline = now + self._t.acks
        self._next_ping = now + self._t.ping_interval

    def _ack(self, fields: list[str], events: list[Event]) -> None:
        if not fields:
            return
        command, values = fields[0], fields[1:]
        if command == "ping":
            self._unanswered_pings = 0
            return
        if command == "getconnectionid":
            cid = values[0].strip() if values else ""
            if self.phase is Phase.HANDSHAKE:
                self.connection_id = cid or None
            elif cid and cid != self.connection_id:
                log.info("late connection id %r ignored; identity is already fixed", cid)
        elif command == "geteventinfo":
            info = EventInfo(*[*values, "", "", ""][:3])
            self.event = info
            if self.phase is not Phase.HANDSHAKE:
                events.append(EventInfoChanged(info))
        elif command == "getlocations":
            locations = tuple(v for v in values if v)
            changed = locations != self.locations
            self.locations = locations
            if changed and self.phase is not Phase.HANDSHAKE:
                events.append(LocationsChanged(locations))
        self._answered(command, events)

    def _answered(self, command: str, events: list[Event]) -> None:
        if command in self._unanswered_questions:
            self._unanswered_questions.remove(command)
            if not self._unanswered_questions and self.phase is Phase.HANDSHAKE:
                events.append(self._handshake_done())

    def _handshake_done(self) -> HandshakeDone:
        self.phase = Phase.SETUP
        self._deadline = None
        done = HandshakeDone(
            self.connection_id, self.event, self.locations, tuple(self._unanswered_questions)
        )
        self._unanswered_questions = []
        return done

    def _new_location(self, location: str) -> None:
        if location in self._started:
            return
        # Before streaming, the start that follows names it (or covers every location).
        self._started.add(location)
        if self.phase is Phase.STREAMING:
            self._send("getlocations")
            self._send(f"start~{location}")

    def _bad_greeting(self, events: list[Event]) -> None:
        self._bad_greetings += 1
        if self._bad_greetings >= self._t.bad_greetings:
            events.append(self._close(f"{self._bad_greetings} lines without a CTP01 greeting"))

    def _close(self, reason: str) -> Closed:
        self.phase = Phase.CLOSED
        self._deadline = self._next_ping = None
        return Closed(reason)

    def _send(self, line: str) -> None:
        self._out += line.encode() + b"\r\n"
