"""Incremental ChronoTrack CTP01 line parser, implemented in Rust."""

from ct_parser._native import (
    LOCAL,
    TIME_OF_DAY,
    UNIX,
    Batch,
    ParseError,
    Parser,
    Read,
    SessionLine,
)

__all__ = [
    "LOCAL",
    "TIME_OF_DAY",
    "UNIX",
    "Batch",
    "ParseError",
    "Parser",
    "Read",
    "SessionLine",
]
