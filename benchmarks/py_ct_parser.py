"""Pure-Python CTP01 parser with the same rules and output as ct_parser: the benchmark baseline."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

TIME_OF_DAY = 0
LOCAL = 1
UNIX = 2
DEFAULT_MAX_LINE_LEN = 4096

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
US_PER_SEC = 1_000_000
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

FRACTION = r"(?:\.([0-9]{1,6}))?"
CLOCK_RE = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})" + FRACTION)
ISO_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})" + FRACTION
)
EPOCH_RE = re.compile(r"([0-9]+)" + FRACTION)

COMMANDS = {"getlocations", "geteventinfo", "getconnectionid"}
UNRECOGNISED = "not a read or a CTP01 session line"


class Read(NamedTuple):
    line: int
    format: str
    seq: int
    location: str
    tag: str
    time_raw: str
    time_kind: int
    time_us: int
    lap: int
    reader: str
    antenna: int
    raw: bytes


class SessionLine(NamedTuple):
    line: int
    kind: str
    fields: list[str]
    raw: bytes


class ParseError(NamedTuple):
    line: int
    reason: str
    detail: str
    raw: bytes


@dataclass
class Batch:
    reads: list[Read] = field(default_factory=list)
    sessions: list[SessionLine] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


class LineError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _fraction_us(digits: str | None) -> int:
    return int(digits.ljust(6, "0")) if digits else 0


def parse_time(s: str) -> tuple[int, int] | None:
    """(time_kind, µs) for any CT01 time field, or None."""
    if len(s) >= 10 and s[4] == "-":
        m = ISO_RE.fullmatch(s)
        if m is None:
            return None
        year, month, day, h, mi, sec = (int(g) for g in m.groups()[:6])
        if h > 23 or mi > 59 or sec > 59:
            return None
        try:
            days = date(year, month, day).toordinal() - EPOCH_ORDINAL
        except ValueError:
            return None
        return LOCAL, ((days * 86_400 + h * 3600 + mi * 60 + sec) * US_PER_SEC + _fraction_us(m[7]))
    if ":" in s:
        m = CLOCK_RE.fullmatch(s)
        if m is None:
            return None
        h, mi, sec = int(m[1]), int(m[2]), int(m[3])
        if h > 23 or mi > 59 or sec > 59:
            return None
        return TIME_OF_DAY, (h * 3600 + mi * 60 + sec) * US_PER_SEC + _fraction_us(m[4])
    m = EPOCH_RE.fullmatch(s)
    if m is None:
        return None
    whole, frac = m[1], m[2]
    if frac is None and len(whole) >= 12:
        # 12+ bare digits are epoch milliseconds; 15 keeps µs inside a signed 64-bit int.
        return (UNIX, int(whole) * 1000) if len(whole) <= 15 else None
    if len(whole) > 11:
        return None
    return UNIX, int(whole) * US_PER_SEC + _fraction_us(frac)


def _uint(s: str, limit: int) -> int | None:
    # isdigit alone would accept non-ASCII digits such as U+0661 (Arabic-Indic one).
    if not (s.isascii() and s.isdigit()):
        return None
    significant = s.lstrip("0")
    if len(significant) > 20:
        return None
    value = int(significant or "0")
    return value if value <= limit else None


def _number(s: str, index: int, name: str, reason: str, limit: int) -> int:
    value = _uint(s, limit)
    if value is None:
        raise LineError(reason, f"field {index} ({name}) '{s}' is not an unsigned integer")
    return value


def parse_read(line_no: int, text: str, raw: bytes, fmt: str, sep: str) -> Read:
    fields = text.split(sep)
    if fmt == "TO":
        if not 11 <= len(fields) <= 12:
            raise LineError("field_count", f"TO line has {len(fields)} fields, expected 11 or 12")
        seq = _number(fields[1], 1, "seq", "bad_seq", U64_MAX)
        if not fields[2]:
            raise LineError("empty_tag", "field 2 (tag) is empty")
        parsed = parse_time(fields[5])
        if parsed is None or parsed[0] != UNIX:
            raise LineError("bad_time", f"field 5 (epoch) '{fields[5]}' is not an epoch time")
        antenna = _number(fields[7], 7, "antenna", "bad_antenna", U32_MAX)
        return Read(
            line_no,
            "TO",
            seq,
            "",
            fields[2],
            fields[5],
            UNIX,
            parsed[1],
            1,
            fields[6],
            antenna,
            raw,
        )
    if len(fields) != 8:
        raise LineError("field_count", f"{fmt} line has {len(fields)} fields, expected 8")
    seq = _number(fields[1], 1, "seq", "bad_seq", U64_MAX)
    if not fields[2]:
        raise LineError("empty_location", "field 2 (location) is empty")
    if not fields[3]:
        raise LineError("empty_tag", "field 3 (tag) is empty")
    parsed = parse_time(fields[4])
    if parsed is None:
        raise LineError("bad_time", f"field 4 (time) '{fields[4]}' is not a time")
    lap = _number(fields[5], 5, "lap", "bad_lap", U32_MAX)
    antenna = _number(fields[7], 7, "antenna", "bad_antenna", U32_MAX)
    return Read(
        line_no,
        fmt,
        seq,
        fields[2],
        fields[3],
        fields[4],
        parsed[0],
        parsed[1],
        lap,
        fields[6],
        antenna,
        raw,
    )


def _is_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def parse_session(text: str) -> tuple[str, list[str]] | None:
    parts = text.split("~")
    head, args = parts[0], parts[1:]
    # A keyword decides the kind on its own: a malformed `start~~5` is not a header.
    if head in ("ack", "err"):
        return (head, args) if args else None
    if head == "ping":
        return ("ping", args) if args in ([], ["ack"]) else None
    if head == "start":
        ok = (
            not args
            or (len(args) == 1 and args[0] != "")
            or (len(args) == 2 and args[0] != "" and _is_digits(args[1]))
        )
        return ("command", parts) if ok else None
    if head == "stop":
        ok = not args or (len(args) == 1 and args[0] != "")
        return ("command", parts) if ok else None
    if head in COMMANDS:
        return ("command", parts) if not args else None
    if len(parts) == 3 and head:
        if parts[2] == "CTP01":
            return "greeting", parts[:2]
        if _is_digits(parts[2]):
            return "header", parts
        return None
    if len(parts) == 1:
        key, eq, value = text.partition("=")
        if eq and key:
            return "setting", [key, value]
    return None


class Parser:
    """Same framing as the Rust parser: NULs dropped, LF-terminated, one CR stripped."""

    def __init__(self, max_line_len: int = DEFAULT_MAX_LINE_LEN) -> None:
        if max_line_len < 1:
            raise ValueError("max_line_len must be at least 1")
        self.max_line_len = max_line_len
        self._tail = b""
        self._discarding = False
        self._next_line = 0

    @property
    def pending(self) -> int:
        return len(self._tail)

    def feed(self, data: bytes) -> Batch:
        batch = Batch()
        if b"\0" in data:
            data = data.replace(b"\0", b"")
        if self._discarding:
            lf = data.find(b"\n")
            if lf < 0:
                return batch
            self._discarding = False
            data = data[lf + 1 :]
        if self._tail:
            data = self._tail + data
            self._tail = b""
        lines = data.split(b"\n")
        rest = lines.pop()
        for segment in lines:
            self._line(segment, batch)
        if len(rest) > self.max_line_len + 1:
            # Even a trailing CR cannot bring it under the cap: report now, drop the rest.
            self._too_long(rest[: self.max_line_len], batch)
            self._discarding = True
        else:
            self._tail = rest
        return batch

    def finish(self) -> Batch:
        batch = Batch()
        if self._discarding:
            self._discarding = False
        elif self._tail:
            tail, self._tail = self._tail, b""
            self._line(tail, batch)
        return batch

    def _too_long(self, raw: bytes, batch: Batch) -> None:
        line_no = self._next_line
        self._next_line += 1
        batch.errors.append(
            ParseError(
                line_no,
                "line_too_long",
                f"line longer than {self.max_line_len} bytes; the rest of it is discarded",
                raw,
            )
        )

    def _line(self, segment: bytes, batch: Batch) -> None:
        if segment.endswith(b"\r"):
            segment = segment[:-1]
        if len(segment) > self.max_line_len:
            self._too_long(segment[: self.max_line_len], batch)
            return
        if not segment.strip(b" \t\r"):
            return
        line_no = self._next_line
        self._next_line += 1
        try:
            text = segment.decode()
        except UnicodeDecodeError as exc:
            batch.errors.append(
                ParseError(line_no, "not_utf8", f"invalid UTF-8 at byte {exc.start}", segment)
            )
            return
        fmt = text[:7]
        if fmt in ("CT01_33", "CT01_13") and text[7:8] in ("~", ",", ""):
            sep = text[7:8] or "~"
        elif text.startswith("TO~") or text == "TO":
            fmt, sep = "TO", "~"
        else:
            session = parse_session(text)
            if session is None:
                batch.errors.append(ParseError(line_no, "unrecognised", UNRECOGNISED, segment))
            else:
                batch.sessions.append(SessionLine(line_no, session[0], session[1], segment))
            return
        try:
            batch.reads.append(parse_read(line_no, text, segment, fmt, sep))
        except LineError as exc:
            batch.errors.append(ParseError(line_no, exc.reason, exc.detail, segment))
