"""Framing torture: the parser and the CTP01 session give the same result however cut.

HYPOTHESIS_MAX_EXAMPLES sets the examples per property (default keeps the file near 20 s);
a long run: `HYPOTHESIS_MAX_EXAMPLES=20000 pytest tests/native/test_framing_torture.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ct_parser = pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from collector.session import (  # noqa: E402 - after the importorskip above
    Closed,
    Ctp01Session,
    Event,
    Phase,
    ReadsReceived,
)

REPO = Path(__file__).resolve().parents[2]
VECTORS: list[dict[str, Any]] = json.loads(
    (REPO / "tests" / "vectors" / "ctp01_lines.json").read_text(encoding="utf-8")
)
MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CAP = 4096  # the collector's MAX_LINE
REASONS = {
    "line_too_long",
    "not_utf8",
    "field_count",
    "bad_seq",
    "bad_time",
    "bad_lap",
    "bad_antenna",
    "empty_tag",
    "empty_location",
    "unrecognised",
}


def vector_bytes(v: dict[str, Any]) -> bytes:
    if "line_hex" in v:
        return bytes.fromhex(v["line_hex"])
    return str(v["line"]).encode()


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    bounds = sorted(min(c, len(data)) for c in cuts)
    for start, end in zip([0, *bounds], [*bounds, len(data)], strict=True):
        yield data[start:end]


@st.composite
def cuts_of(draw: st.DrawFn, data: bytes) -> list[int]:
    return draw(st.lists(st.integers(0, len(data)), max_size=40))


# ---- the parser -------------------------------------------------------------------------

Items = tuple[list[Any], list[Any], list[Any]]


def parse(data: bytes, cuts: list[int], cap: int) -> Items:
    """All items of `data` fed in the given pieces; checks the held tail after each feed."""
    parser = ct_parser.Parser(cap)
    reads: list[Any] = []
    sessions: list[Any] = []
    errors: list[Any] = []
    for piece in [*pieces(data, cuts), None]:
        batch = parser.feed(piece) if piece is not None else parser.finish()
        reads += batch.reads
        sessions += batch.sessions
        errors += batch.errors
        assert parser.pending <= cap + 1
    assert parser.pending == 0
    for e in errors:
        assert e.reason in REASONS and len(e.raw) <= cap
    return reads, sessions, errors


def _streams() -> list[tuple[str, bytes, int]]:
    out = []
    for cap in sorted({v.get("max_line_len", CAP) for v in VECTORS}):
        group = [vector_bytes(v) for v in VECTORS if v.get("max_line_len", CAP) == cap]
        out.append((f"cap {cap}, LF", b"".join(b + b"\n" for b in group), cap))
        out.append((f"cap {cap}, CRLF", b"".join(b + b"\r\n" for b in group), cap))
    for v in VECTORS:
        out.append((v["name"], vector_bytes(v) + b"\r\n", v.get("max_line_len", CAP)))
    return out


STREAMS = _streams()


@FUZZ
@given(st.sampled_from(STREAMS), st.data())
def test_vector_streams_parse_the_same_however_cut(
    stream: tuple[str, bytes, int], data: st.DataObject
) -> None:
    _, raw, cap = stream
    cuts = data.draw(cuts_of(raw))
    assert parse(raw, cuts, cap) == parse(raw, [], cap)


def test_vector_streams_byte_at_a_time() -> None:
    for name, raw, cap in STREAMS:
        assert parse(raw, list(range(1, len(raw))), cap) == parse(raw, [], cap), name


VALID_LINES = [
    vector_bytes(v)
    for v in VECTORS
    if ("read" in v["expect"] or "session" in v["expect"])
    and "max_line_len" not in v
    and b"\0" not in vector_bytes(v)
    and b"\r" not in vector_bytes(v)
]

junk_bytes = st.lists(
    st.one_of(
        st.integers(0, 255),
        st.sampled_from([0x0A, 0x0D, 0x00, 0x7E, 0xFF]),
    ),
    max_size=120,
).map(bytes)


@st.composite
def soups(draw: st.DrawFn) -> tuple[bytes, int, list[bytes]]:
    """Valid lines, mutated lines, junk and over-long lines; which valid lines stand alone."""
    cap = draw(st.sampled_from([CAP, 80, 16, 3]))
    data = bytearray()
    isolated: list[bytes] = []
    after_lf = True
    segments = draw(st.integers(0, 25))
    for i in range(segments):
        kind = draw(st.sampled_from(["valid", "valid", "mutated", "junk", "huge"]))
        end = draw(st.sampled_from([b"\n", b"\r\n", b"\r\n", b"\r", b""]))
        if kind == "valid":
            line = draw(st.sampled_from(VALID_LINES))
            if after_lf and (end.endswith(b"\n") or i + 1 == segments) and len(line) <= cap:
                isolated.append(line)
        elif kind == "mutated":
            mutated = bytearray(draw(st.sampled_from(VALID_LINES)))
            for _ in range(draw(st.integers(1, 3))):
                at = draw(st.integers(0, len(mutated)))
                byte = draw(st.sampled_from([0, 0x0D, 0x7E, 0x2C, 0xFF, 0xC3, 0x20, 0x39]))
                if at < len(mutated) and draw(st.booleans()):
                    mutated[at] = byte
                else:
                    mutated.insert(at, byte)
            line = bytes(mutated)
        elif kind == "junk":
            line = draw(junk_bytes)
        else:
            size = cap - 2 + draw(st.integers(0, 3)) + draw(st.sampled_from([0, 0, cap, 5000]))
            line = draw(st.sampled_from([b"A", b"~", b"\r", b"\xff"])) * size
        data += line + end
        after_lf = end.endswith(b"\n")
    return bytes(data), cap, isolated


def is_subsequence(needles: list[bytes], haystack: list[bytes]) -> bool:
    it = iter(haystack)
    return all(any(h == n for h in it) for n in needles)


@FUZZ
@given(soups(), st.data())
def test_junk_never_raises_nor_eats_good_lines(
    soup: tuple[bytes, int, list[bytes]], data: st.DataObject
) -> None:
    raw, cap, isolated = soup
    whole = parse(raw, [], cap)
    assert parse(raw, data.draw(cuts_of(raw)), cap) == whole
    reads, sessions, errors = whole
    lines = sorted(item.line for item in [*reads, *sessions, *errors])
    assert lines == list(range(len(lines)))
    assert len(lines) <= raw.count(b"\n") + 1
    good = [item.raw for item in sorted([*reads, *sessions], key=lambda item: item.line)]
    assert is_subsequence(isolated, good), (isolated, good)


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([1, 2, 16, CAP]), st.data())
def test_arbitrary_bytes_come_back_as_values(raw: bytes, cap: int, data: st.DataObject) -> None:
    assert parse(raw, data.draw(cuts_of(raw)), cap) == parse(raw, [], cap)


def rss_bytes() -> int:
    """Resident set size now (not the peak), from /proc."""
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


GOOD = b"CT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_ten_megabyte_line_then_a_good_line_stays_bounded() -> None:
    chunk = b"A" * 65_536
    parser = ct_parser.Parser(CAP)
    errors: list[Any] = []
    before = rss_bytes()
    for _ in range(160):  # 10 MiB, never whole in memory here
        batch = parser.feed(chunk)
        errors += batch.errors
        assert parser.pending <= CAP + 1
    grown = rss_bytes() - before
    assert grown < 4 * 1024 * 1024, f"RSS grew by {grown} bytes"
    batch = parser.feed(b"AAA\r\n" + GOOD + b"\r\n")
    errors += batch.errors
    assert [r.raw for r in batch.reads] == [GOOD]
    assert [(e.reason, len(e.raw)) for e in errors] == [("line_too_long", CAP)]
    assert batch.reads[0].line == 1

    # Whole in one feed: the parser keeps nothing of it and copies only the capped raw.
    huge = b"B" * (10 * 1024 * 1024) + b"\n" + GOOD + b"\n"
    parser = ct_parser.Parser(CAP)
    before = rss_bytes()
    batch = parser.feed(huge)
    grown = rss_bytes() - before
    assert grown < 4 * 1024 * 1024, f"RSS grew by {grown} bytes"
    assert parser.pending == 0
    assert [r.raw for r in batch.reads] == [GOOD]
    assert [len(e.raw) for e in batch.errors] == [CAP]


def test_ten_megabyte_line_byte_soup_in_odd_chunks() -> None:
    """A 10 MB line of CRs and NULs (blank-looking) is still one over-long line."""
    parser = ct_parser.Parser(CAP)
    errors: list[Any] = []
    chunk = b"\r\0" * 49_999 + b"\r"
    for _ in range(105):
        errors += parser.feed(chunk).errors
        assert parser.pending <= CAP + 1
    batch = parser.feed(b"\n" + GOOD)
    end = parser.finish()
    assert [e.reason for e in errors + batch.errors] == ["line_too_long"]
    assert [r.raw for r in end.reads] == [GOOD]


# ---- the CTP01 session ------------------------------------------------------------------

LOCATIONS = ["START", "FINISH", "10K", "LAP"]


def read_line(seq: int, location: str, tag: str) -> bytes:
    return f"CT01_33~{seq}~{location}~{tag}~2026-10-05T08:00:03.17~1~0A1B2C~4".encode()


provider_reads = st.builds(
    read_line,
    st.integers(0, 10**6),
    st.sampled_from([*LOCATIONS, "MILE1"]),
    st.sampled_from(["1187", "0042", "guntime", "newlocation"]),
)
ack_lines = st.one_of(
    st.builds(
        lambda cid: f"ack~getconnectionid~{cid}".encode(), st.sampled_from(["7e21", "", " "])
    ),
    st.just(b"ack~geteventinfo~Harbor 10K~EV-2291~Harbor 10K 2026"),
    st.just(b"ack~geteventinfo~Other"),
    st.builds(
        lambda locs: "~".join(["ack~getlocations", *locs]).encode(),
        st.lists(st.sampled_from([*LOCATIONS, ""]), max_size=4),
    ),
)
chatter = st.one_of(
    st.sampled_from(
        [
            b"ping",
            b"ack~ping",
            b"ping~ack",
            b"err~start~no such location",
            b"err~getlocations",
            b"err",
            b"RaceDisplay~1.0~5",
            b"stream-mode=push",
            b"SimpleClient~0.6.0~CTP01",
            b"start~FINISH~3",
            b"",
            b" \t",
            b"bogus line",
            b"CT01_33~1~START~1204~25:99:00~1~0A1B2C~1",
            b"ack~geteventinfo~\xff",
        ]
    ),
    ack_lines,
)
post_lines = st.lists(st.one_of(provider_reads, provider_reads, chatter), max_size=40)


def answers() -> st.SearchStrategy[list[bytes]]:
    """Each question answered once, by an ack or an err, in any order."""
    one = [
        st.sampled_from([b"ack~getconnectionid~7e21c9d04b", b"err~getconnectionid~no"]),
        st.sampled_from(
            [b"ack~geteventinfo~Harbor 10K~EV-2291~Harbor 10K 2026", b"err~geteventinfo"]
        ),
        st.builds(
            lambda locs: "~".join(["ack~getlocations", *locs]).encode(),
            st.lists(st.sampled_from(LOCATIONS), max_size=3),
        ),
    ]
    return st.tuples(*one).map(list).flatmap(st.permutations)


@dataclass(frozen=True)
class Script:
    """What a provider sends before `start` (greeting, answers) and after it."""

    pre: bytes
    post: bytes
    eof: bool
    resume: Mapping[str, int] | None


def join(draw: st.DrawFn, lines: list[bytes]) -> bytes:
    ends = draw(
        st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=len(lines), max_size=len(lines))
    )
    data = bytearray(b"".join(line + end for line, end in zip(lines, ends, strict=True)))
    for at in draw(st.lists(st.integers(0, len(data)), max_size=3)):
        data.insert(at, 0)
    return bytes(data)


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    before = draw(st.lists(st.sampled_from([b"", b"hello", b"ping", GOOD]), max_size=2))
    greeting = draw(st.sampled_from([b"SimpleClient~0.6.0~CTP01", b"TsConnector~2.1~CTP01"]))
    middle = draw(answers()) + draw(st.lists(chatter, max_size=4))
    middle = draw(st.permutations(middle))
    pre = join(draw, [*before, greeting, *middle])
    post_list = draw(post_lines)
    if draw(st.integers(0, 9)) == 7:
        # An over-long line closes the connection wherever it falls.
        post_list.insert(draw(st.integers(0, len(post_list))), b"X" * (CAP + 1))
    post = join(draw, post_list)
    eof = draw(st.booleans())
    if eof and draw(st.booleans()):
        post += draw(st.sampled_from([GOOD, b"ping", b"ack~ping", b"junk", b"CT01_3"]))
    resume = draw(
        st.none() | st.dictionaries(st.sampled_from(LOCATIONS), st.integers(0, 10**6), max_size=3)
    )
    return Script(pre, post, eof, resume)


@dataclass
class Outcome:
    """Everything the session did, with reads one per entry (their grouping follows feeds)."""

    events: list[Any]
    sent: bytes
    phase: Phase


def flatten(events: list[Event]) -> Iterator[Any]:
    for event in events:
        if isinstance(event, ReadsReceived):
            yield from (("read", read) for read in event.reads)
        else:
            yield event


def run(script: Script, pre_cuts: list[int], post_cuts: list[int]) -> Outcome:
    session = Ctp01Session(ct_parser.Parser(max_line_len=CAP), 0.0)
    events: list[Any] = []
    sent = bytearray()

    def feed(data: bytes) -> None:
        events.extend(flatten(session.receive_data(data, 0.0)))
        sent.extend(session.data_to_send())

    for piece in pieces(script.pre, pre_cuts):
        feed(piece)
    # The owner opens the timing session on HandshakeDone, then starts the stream.
    session.start(script.resume)
    sent.extend(session.data_to_send())
    for piece in pieces(script.post, post_cuts):
        feed(piece)
    if script.eof:
        events.extend(flatten(session.receive_eof(0.0)))
        sent.extend(session.data_to_send())
    return Outcome(events, bytes(sent), session.phase)


@FUZZ
@given(scripts(), st.data())
def test_session_does_the_same_however_the_provider_stream_is_cut(
    script: Script, data: st.DataObject
) -> None:
    whole = run(script, [], [])
    cut = run(script, data.draw(cuts_of(script.pre)), data.draw(cuts_of(script.post)))
    assert cut == whole
    # Nothing in the script keeps the handshake from finishing; an over-long line or EOF
    # closes, and every close is reported once, as the last event.
    assert whole.phase in (Phase.STREAMING, Phase.CLOSED)
    closes = [e for e in whole.events if isinstance(e, Closed)]
    assert len(closes) == (whole.phase is Phase.CLOSED)
    if closes:
        assert whole.events[-1] == closes[0]


@FUZZ
@given(scripts())
def test_session_byte_at_a_time(script: Script) -> None:
    whole = run(script, [], [])
    cut = run(script, list(range(1, len(script.pre))), list(range(1, len(script.post))))
    assert cut == whole


@FUZZ
@given(st.lists(st.one_of(junk_bytes, chatter, provider_reads), max_size=20), st.data())
def test_session_survives_any_bytes_before_and_after_the_greeting(
    lines: list[bytes], data: st.DataObject
) -> None:
    raw = b"\n".join(lines)
    script = Script(raw, raw, True, None)
    whole = run(script, [], [])
    cut = run(script, data.draw(cuts_of(raw)), data.draw(cuts_of(raw)))
    assert cut == whole
    assert whole.phase is Phase.CLOSED
