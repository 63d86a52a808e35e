"""Seeded misbehaviour for the simulated provider: drops, split writes, odd line ends, junk."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from simulator.sources import SimRead

MAX_PIECE = 64
# Junk starts with one of these, so it can never read as a keyword (ping, start, ack...).
_JUNK_FIRST = "#%&*?!"
# No `~` (a field separator) and no `=` (a setting line): junk stays unrecognised.
_JUNK_ALPHABET = "".join(
    c for c in string.ascii_letters + string.digits + string.punctuation + " " if c not in "~="
)
GARBAGE_KINDS = ("junk", "bad_seq", "few_fields", "not_utf8")


@dataclass(frozen=True, slots=True)
class ClockJump:
    """Every read with seq >= from_seq has `seconds` added to its time field."""

    seconds: float
    from_seq: int

    @classmethod
    def parse(cls, text: str) -> ClockJump:
        """`SECONDS@SEQ`, e.g. `3600@500` or `-7.5@1`."""
        seconds, sep, seq = text.partition("@")
        if not sep or not seq.strip().isdigit():
            raise ValueError(f"clock jump must be SECONDS@SEQ, not {text!r}")
        return cls(float(seconds), int(seq))

    def shift_us(self, read: SimRead) -> int:
        return round(self.seconds * 1_000_000) if read.seq >= self.from_seq else 0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    seed: int = 0
    # Probability, after each read line, of dropping the connection without a final ping.
    drop_rate: float = 0.0
    # Write in random pieces of 1..MAX_PIECE bytes, draining between them.
    split: bool = False
    # End each read line with CRLF or a bare LF at random.
    mixed_eol: bool = False
    # Probability, before each read line, of one garbage line.
    garbage_rate: float = 0.0
    # Bytes of one overlong line (no newline until the end), sent once after the first start.
    huge_line: int = 0
    clock_jump: ClockJump | None = None

    def __post_init__(self) -> None:
        for name in ("drop_rate", "garbage_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.huge_line < 0:
            raise ValueError("huge_line must not be negative")

    @property
    def active(self) -> bool:
        """Whether anything changes how lines are written (the clock jump does not)."""
        return bool(
            self.drop_rate or self.split or self.mixed_eol or self.garbage_rate or self.huge_line
        )


def connection_rng(seed: int, connection_id: str) -> random.Random:
    """The one generator of a connection: the same seed and id give the same choices."""
    # A str seed is hashed with SHA-512, so it is stable across processes (unlike hash()).
    return random.Random(f"{seed}:{connection_id}")


def stamp_us(read: SimRead, base_us: int, jump: ClockJump | None) -> int:
    """The epoch written in a read: a function of the read alone, so a resend is identical."""
    return base_us + jump.shift_us(read) if jump is not None else base_us


def split_pieces(data: bytes, rng: random.Random, max_piece: int = MAX_PIECE) -> list[bytes]:
    """`data` in consecutive pieces of 1..max_piece bytes; they join to `data` exactly."""
    pieces: list[bytes] = []
    at = 0
    while at < len(data):
        size = rng.randint(1, max_piece)
        pieces.append(data[at : at + size])
        at += size
    return pieces


def line_end(rng: random.Random, mixed: bool) -> bytes:
    if not mixed:
        return b"\r\n"
    return b"\r\n" if rng.random() < 0.5 else b"\n"


def should(rng: random.Random, rate: float) -> bool:
    """A coin with probability `rate`; draws nothing when the rate is 0 or 1."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    return rng.random() < rate


def garbage_line(rng: random.Random, location: str = "FINISH") -> bytes:
    """One line the collector must reject, without its terminator.

    Never a valid read: junk has no `~`, a CT01 line has a seq with a letter in it or too
    few fields, and the last kind is not UTF-8. Never blank, a keyword or a setting either.
    """
    kind = rng.choice(GARBAGE_KINDS)
    if kind == "junk":
        body = "".join(rng.choice(_JUNK_ALPHABET) for _ in range(rng.randint(0, 60)))
        return (rng.choice(_JUNK_FIRST) + body).encode()
    if kind == "bad_seq":
        seq = rng.choice(("x", "12a", "-3", "1.5", "", " 7", "seq"))
        tag = rng.randint(1, 9999)
        line = f"CT01_33~{seq}~{location}~{tag}~08:21:44.90~1~0D4E5F~{rng.randint(1, 8)}"
        return line.encode()
    if kind == "few_fields":
        fields = ["CT01_33", str(rng.randint(1, 99999)), location, str(rng.randint(1, 9999))]
        return "~".join(fields[: rng.randint(1, 4)]).encode()
    # 0xff never occurs in UTF-8; bytes >= 0x80 keep clear of CR, LF and NUL.
    return b"\xff" + bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randint(0, 30)))


def huge_line(size: int) -> bytes:
    """`size` bytes without a line end, then LF."""
    return b"x" * size + b"\n"
