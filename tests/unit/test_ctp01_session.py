"""The CTP01 session state machine, driven with bytes and clock values (no sockets)."""

from __future__ import annotations

import pytest

ct_parser = pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.session import (  # noqa: E402 - after the importorskip above
    QUESTIONS,
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
    settings_for,
)

GREETING = b"SimpleClient~0.6.0~CTP01\r\n"
ACKS = (
    b"ack~getconnectionid~7e21c9d04b\r\n"
    b"ack~geteventinfo~Harbor 10K~EV-2291~Harbor 10K 2026\r\n"
    b"ack~getlocations~START~FINISH\r\n"
)
READ = b"CT01_33~2~START~1187~2026-10-05T08:00:03.17~1~0A1B2C~4\r\n"


class FakeTransport:
    """Plays the socket and the clock: feeds the session, keeps what it would have written."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.now = 1000.0
        self.session = Ctp01Session(
            ct_parser.Parser(max_line_len=128),
            self.now,
            version="1.0",
            timeouts=timeouts or Timeouts(),
        )
        self.sent: list[str] = []
        self.events: list[Event] = []

    def feed(self, data: bytes) -> list[Event]:
        return self._collect(self.session.receive_data(data, self.now))

    def eof(self) -> list[Event]:
        return self._collect(self.session.receive_eof(self.now))

    def advance(self, seconds: float) -> list[Event]:
        self.now += seconds
        return self._collect(self.session.tick(self.now))

    def _collect(self, events: list[Event]) -> list[Event]:
        self.events += events
        out = self.session.data_to_send().decode()
        assert out == "" or out.endswith("\r\n"), "every line ends with CRLF"
        self.sent += out.split("\r\n")[:-1]
        return events

    def take_sent(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent

    def handshake(self) -> HandshakeDone:
        self.feed(GREETING)
        events = self.feed(ACKS)
        self.take_sent()
        done = [e for e in events if isinstance(e, HandshakeDone)]
        assert len(done) == 1
        self.session.start()
        assert self._collect([]) == [] and self.take_sent() == ["start"]
        return done[0]


def test_greeting_is_answered_with_header_settings_and_questions() -> None:
    t = FakeTransport()
    events = t.feed(GREETING)
    assert events == [Greeted("SimpleClient", "0.6.0")]
    assert t.take_sent() == [
        "RaceDisplay~1.0~5",
        "stream-mode=push",
        "time-format=iso",
        "guntimes=true",
        "newlocations=true",
        "location=multi",
        "getconnectionid",
        "geteventinfo",
        "getlocations",
    ]
    assert len(settings_for()) == 5
    assert QUESTIONS == ("getconnectionid", "geteventinfo", "getlocations")
    assert t.session.phase is Phase.HANDSHAKE


def test_nothing_is_sent_before_the_greeting() -> None:
    t = FakeTransport()
    assert t.advance(5) == []
    assert t.take_sent() == []


def test_acks_complete_the_handshake_then_start_is_sent() -> None:
    t = FakeTransport()
    done = t.handshake()
    assert done == HandshakeDone(
        "7e21c9d04b", EventInfo("Harbor 10K", "EV-2291", "Harbor 10K 2026"), ("START", "FINISH"), ()
    )
    assert t.session.phase is Phase.STREAMING
    events = t.feed(READ)
    assert len(events) == 1 and isinstance(events[0], ReadsReceived)
    read = events[0].reads[0]
    assert (read.seq, read.location, read.tag, read.antenna) == (2, "START", "1187", 4)


def test_greeting_and_acks_split_anywhere_give_the_same_handshake() -> None:
    stream = GREETING + ACKS
    for size in (1, 2, 7, 13):
        t = FakeTransport()
        for i in range(0, len(stream), size):
            t.feed(stream[i : i + size])
        done = [e for e in t.events if isinstance(e, HandshakeDone)]
        assert [d.connection_id for d in done] == ["7e21c9d04b"]


def test_a_provider_that_does_not_answer_is_still_served() -> None:
    t = FakeTransport(Timeouts(acks=5.0))
    t.feed(GREETING)
    t.feed(b"ack~getlocations~FINISH\r\n")
    t.take_sent()
    assert t.advance(4.9) == []
    events = t.advance(0.2)
    assert events == [HandshakeDone(None, None, ("FINISH",), ("getconnectionid", "geteventinfo"))]
    t.session.start()
    t.feed(b"")
    assert t.take_sent() == ["start"]


def test_err_answers_a_question() -> None:
    t = FakeTransport()
    t.feed(GREETING)
    events = t.feed(
        b"err~getconnectionid~not supported\r\nack~geteventinfo~E~1~d\r\nack~getlocations~A\r\n"
    )
    assert events[0] == ProviderError("getconnectionid", "not supported")
    assert isinstance(events[-1], HandshakeDone) and events[-1].connection_id is None


def test_ping_is_answered_with_ack_ping() -> None:
    t = FakeTransport()
    t.handshake()
    assert t.feed(b"ping\r\n") == []
    assert t.take_sent() == ["ack~ping"]


def test_keepalive_pings_and_a_peer_that_stops_answering_is_closed() -> None:
    t = FakeTransport(Timeouts(ping_interval=10.0, missed_pings=3))
    t.handshake()
    t.advance(10)
    assert t.take_sent() == ["ping"]
    t.feed(b"ack~ping\r\n")
    for _ in range(3):
        assert t.advance(10) == []
        assert t.take_sent() == ["ping"]
    events = t.advance(10)
    assert events == [Closed("3 pings unanswered")]
    assert t.session.phase is Phase.CLOSED


def test_ping_ack_counts_as_an_answer() -> None:
    t = FakeTransport(Timeouts(ping_interval=10.0, missed_pings=1))
    t.handshake()
    t.advance(10)
    t.feed(b"ping~ack\r\n")
    assert t.take_sent() == ["ping"]  # answered, not answered back
    assert t.advance(10) == []


def test_three_bad_greeting_lines_close() -> None:
    t = FakeTransport()
    assert t.feed(b"hello\r\n") != []  # rejected line, reported
    t.feed(READ)
    events = t.feed(b"ack~ping\r\n")
    assert events == [Closed("3 lines without a CTP01 greeting")]
    assert t.take_sent() == []


def test_silence_instead_of_a_greeting_closes() -> None:
    t = FakeTransport(Timeouts(greeting=30.0))
    assert t.advance(29) == []
    assert t.advance(1.5) == [Closed("no CTP01 greeting")]


def test_malformed_lines_are_reported_and_the_connection_stays_open() -> None:
    t = FakeTransport()
    t.handshake()
    events = t.feed(
        b"CT01_33~x~START~1~08:00:00.00~1~0A1B2C~1\r\n"
        + READ
        + b"CT01_33~3~START~2~25:99:00~1~0A1B2C~1\r\n"
        + b"garbage\r\n"
    )
    kinds = [type(e) for e in events]
    assert kinds == [LineRejected, ReadsReceived, LineRejected, LineRejected]
    reasons = [e.error.reason for e in events if isinstance(e, LineRejected)]
    assert reasons == ["bad_seq", "bad_time", "unrecognised"]
    assert t.session.phase is Phase.STREAMING


def test_a_line_too_long_closes() -> None:
    t = FakeTransport()
    t.handshake()
    events = t.feed(b"CT01_33~" + b"9" * 300 + b"\r\n")
    assert isinstance(events[0], LineRejected) and events[0].error.reason == "line_too_long"
    assert events[-1] == Closed("line too long")


def test_newlocation_asks_for_locations_and_starts_it_once() -> None:
    t = FakeTransport()
    t.handshake()
    line = b"CT01_33~43~10K~newlocation~2026-10-05T08:22:10.00~0~0F1E2D~0\r\n"
    events = t.feed(line)
    assert isinstance(events[0], ReadsReceived)  # stored like any read
    assert t.take_sent() == ["getlocations", "start~10K"]
    t.feed(line.replace(b"~43~", b"~44~"))
    assert t.take_sent() == []
    assert t.feed(b"ack~getlocations~START~FINISH~10K\r\n") == [
        LocationsChanged(("START", "FINISH", "10K"))
    ]


def test_late_event_info_is_reported() -> None:
    t = FakeTransport(Timeouts(acks=1.0))
    t.feed(GREETING)
    t.advance(2)
    events = t.feed(b"ack~geteventinfo~Harbor 10K~EV-9~\r\n")
    assert events == [EventInfoChanged(EventInfo("Harbor 10K", "EV-9", ""))]


def test_eof_parses_the_unterminated_tail_then_closes() -> None:
    t = FakeTransport()
    t.handshake()
    t.feed(READ.rstrip(b"\r\n"))
    events = t.eof()
    assert isinstance(events[0], ReadsReceived)
    assert events[-1] == Closed("peer closed the connection")
