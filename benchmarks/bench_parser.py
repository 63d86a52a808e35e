"""Times the Rust ct_parser against the pure-Python baseline on the real 2021 race."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import ct_parser
import py_ct_parser
import report

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "chronotrack-2021"
DOC = report.DOC
CHUNK = 64 * 1024
EXPECTED_READS = 64_990
# The acceptance target on the 2-core machine: Rust at least this many times pure Python.
TARGET_RATIO = 20.0


def simpleclient_line(location: str, to_line: str) -> str:
    """The CT01_33 line SimpleClient sends for one controller observation (time-format=iso)."""
    f = to_line.split("~")
    seconds, _, hundredths = f[5].partition(".")
    stamp = datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return (
        f"CT01_33~{int(f[1])}~{location}~{f[2]}~{stamp}.{(hundredths + '00')[:2]}~1~{f[6]}~{f[7]}"
    )


def load_stream(root: Path) -> bytes:
    lines = []
    for path in sorted(root.glob("*/*.csv")):
        location = path.parent.name
        for raw in path.read_text(encoding="ascii").splitlines():
            if raw.startswith("TO~"):
                lines.append(simpleclient_line(location, raw))
    return "".join(line + "\r\n" for line in lines).encode()


def count_reads(parser: Any, chunks: Sequence[bytes]) -> int:
    reads = 0
    for chunk in chunks:
        reads += len(parser.feed(chunk).reads)
    return reads + len(parser.finish().reads)


def rows_of(reads: Iterable[Any]) -> list[tuple[Any, ...]]:
    """What a collector does with each read: one row with every field, each read once."""
    return [
        (
            r.seq,
            r.location,
            r.tag,
            r.time_raw,
            r.time_kind,
            r.time_us,
            r.lap,
            r.reader,
            r.antenna,
            r.raw,
        )
        for r in reads
    ]


def consume_reads(parser: Any, chunks: Sequence[bytes]) -> int:
    rows = 0
    for chunk in chunks:
        rows += len(rows_of(parser.feed(chunk).reads))
    return rows + len(rows_of(parser.finish().reads))


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    reads = 0
    for _ in range(runs):
        started = time.perf_counter()
        reads = fn()
        best = min(best, time.perf_counter() - started)
    return best, reads


def field_tuples(out: Any) -> list[tuple[Any, ...]]:
    """Every field, line number and format included, to check both parsers agree."""
    return [(r.line, r.format, *row) for r, row in zip(out.reads, rows_of(out.reads), strict=True)]


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--runs", type=int, default=7, help="runs per case; the best one counts")
    args.add_argument("--no-write", action="store_true", help=f"do not update {DOC.name}")
    opts = args.parse_args(argv)

    if not DATA.is_dir():
        print(f"skipped: real ChronoTrack files not found at {DATA}", file=sys.stderr)
        return 0
    data = load_stream(DATA)
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]

    # Same bytes, same answers: compare every field once before timing anything.
    rust_out = ct_parser.Parser().feed(data)
    py_out = py_ct_parser.Parser().feed(data)
    if rust_out.errors or py_out.errors:
        raise SystemExit(f"parse errors: rust {rust_out.errors[:3]} python {py_out.errors[:3]}")
    if field_tuples(rust_out) != field_tuples(py_out):
        raise SystemExit("the Rust and pure-Python parsers disagree on the reads")

    parsers: dict[str, Callable[[], Any]] = {
        "rust": ct_parser.Parser,
        "python": py_ct_parser.Parser,
    }
    cases: dict[str, Callable[[str], int]] = {
        "whole stream, one feed": lambda name: count_reads(parsers[name](), [data]),
        "64 KiB chunks": lambda name: count_reads(parsers[name](), chunks),
        "64 KiB chunks, every field read": lambda name: consume_reads(parsers[name](), chunks),
    }
    results: dict[tuple[str, str], float] = {}
    for case, fn in cases.items():
        for name in parsers:
            seconds, counted = best_of(opts.runs, partial(fn, name))
            if counted != len(rust_out.reads):
                raise SystemExit(f"{name}, {case}: {counted} reads, expected {len(rust_out.reads)}")
            results[(case, name)] = seconds
    reads = len(rust_out.reads)
    if reads != EXPECTED_READS:
        print(f"note: {reads} reads, the data set README says {EXPECTED_READS}", file=sys.stderr)

    mb = len(data) / 1e6
    lines = [
        "| case | Rust ct_parser | pure Python | Rust speed-up |",
        "|---|---:|---:|---:|",
    ]
    for case in cases:
        rust, python = results[(case, "rust")], results[(case, "python")]
        lines.append(
            f"| {case} | {rust * 1e3:.1f} ms, {reads / rust:,.0f} reads/s "
            f"| {python * 1e3:.1f} ms, {reads / python:,.0f} reads/s | **{python / rust:.1f}x** |"
        )
    table = "\n".join(lines)
    print(f"{reads:,} reads, {mb:.2f} MB of CT01_33 lines, best of {opts.runs} runs")
    print(table)

    parse = results[("64 KiB chunks", "python")] / results[("64 KiB chunks", "rust")]
    rows = (
        results[("64 KiB chunks, every field read", "python")]
        / results[("64 KiB chunks, every field read", "rust")]
    )
    targets = (
        f"- target (2-core machine): Rust ≥ {TARGET_RATIO:.0f}x pure Python on the real bytes.\n"
        f"  - parsing to `Read` objects (64 KiB chunks): **{parse:.1f}x**, "
        f"{report.verdict(parse >= TARGET_RATIO)};\n"
        f"  - parsing and reading every field into a row: **{rows:.1f}x**, "
        f"{report.verdict(rows >= TARGET_RATIO)}.\n"
    )
    print(targets)
    section = (
        "## (a) CTP01 parser: Rust `ct_parser` against pure Python\n\n"
        f"{report.provenance('make bench-parser')}\n\n"
        "Input: every `TO` line of the real 2021 race "
        "(`../shared/data/chronotrack-2021`) turned into the `CT01_33` line SimpleClient sends "
        "(folder name as location, iso time in UTC, lap 1), CRLF-terminated: "
        f"{reads:,} reads, {mb:.2f} MB, parsed to `Read` objects by each parser in the same "
        f"process, best of {opts.runs} runs. The pure-Python baseline is "
        "`benchmarks/py_ct_parser.py`, held to the same output by `tests/native`.\n\n"
        "The Rust `Read` makes its attribute values on access (the pure-Python tuples hold "
        "ready objects), so the last case, where every field is read once into a row as a "
        "collector does, is the end-to-end comparison; there the Python loop that builds "
        "the rows is a large share of the Rust figure.\n\n"
        f"{table}\n\n"
        f"{targets}"
    )
    summary = {
        "a1": f"| (a) parser, Rust / pure Python, parse to `Read` | {parse:.1f}x | "
        f"≥ {TARGET_RATIO:.0f}x | {report.verdict(parse >= TARGET_RATIO)} |",
        "a2": f"| (a) parser, Rust / pure Python, every field read | {rows:.1f}x | "
        f"≥ {TARGET_RATIO:.0f}x | {report.verdict(rows >= TARGET_RATIO)} |",
    }
    if not opts.no_write:
        report.write_section("parser", section, summary)
        print(f"updated {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
