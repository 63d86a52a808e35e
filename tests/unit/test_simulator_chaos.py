"""The simulator's chaos helpers: seeded, deterministic and without sockets."""

from __future__ import annotations

import argparse
import re

import pytest

from simulator import chaos
from simulator.chaos import ChaosOptions, ClockJump
from simulator.cli import add_arguments, chaos_from_args
from simulator.client import format_time, read_line
from simulator.sources import SimRead, SyntheticRace, load_streams

EPOCH = 1_620_462_257_600_000  # 2021-05-08T08:24:17.60Z
# A complete, valid-looking CT01_33 read: eight fields and a numeric seq.
VALID_READ = re.compile(rb"^CT01_33~\d+~[^~]+~[^~]+~[^~]+~\d+~[^~]*~\d+\r?$")


def _stream_bytes() -> bytes:
    [stream] = load_streams([SyntheticRace(30, seed=5)])
    return "".join(read_line(r, format_time(r.epoch_us, "iso")) for r in stream.reads).encode()


@pytest.mark.parametrize("seed", range(40))
def test_split_pieces_join_to_the_input_exactly(seed: int) -> None:
    data = _stream_bytes()
    rng = chaos.connection_rng(seed, "sim-synthetic")
    pieces = chaos.split_pieces(data, rng)
    assert b"".join(pieces) == data
    assert all(1 <= len(p) <= chaos.MAX_PIECE for p in pieces)
    assert len(pieces) > len(data) // chaos.MAX_PIECE


def test_splits_fall_anywhere_even_inside_crlf() -> None:
    data = _stream_bytes()
    inside_crlf = 0
    sizes: set[int] = set()
    for seed in range(20):
        pieces = chaos.split_pieces(data, chaos.connection_rng(seed, "x"))
        sizes.update(len(p) for p in pieces[:-1])
        inside_crlf += sum(1 for p in pieces if p.endswith(b"\r"))
    assert inside_crlf > 0
    assert {1, chaos.MAX_PIECE} <= sizes
    assert chaos.split_pieces(b"", chaos.connection_rng(1, "x")) == []


def test_mixed_line_ends_give_both_and_only_those() -> None:
    rng = chaos.connection_rng(3, "sim-FINISH1")
    ends = [chaos.line_end(rng, mixed=True) for _ in range(400)]
    assert set(ends) == {b"\r\n", b"\n"}
    assert 100 < ends.count(b"\n") < 300
    assert {chaos.line_end(rng, mixed=False) for _ in range(50)} == {b"\r\n"}


def test_a_clock_jump_is_a_pure_function_of_the_read() -> None:
    jump = ClockJump.parse("3600@10")
    assert jump == ClockJump(3600.0, 10)
    before = SimRead(9, "FINISH", "1187", EPOCH, 1, "0D4E5F", 2)
    at = SimRead(10, "FINISH", "1187", EPOCH, 1, "0D4E5F", 2)
    after = SimRead(11, "START", "7", EPOCH - 5_000_000, 1, "0A1B2C", 1)
    assert chaos.stamp_us(before, before.epoch_us, jump) == EPOCH
    assert chaos.stamp_us(at, at.epoch_us, jump) == EPOCH + 3_600_000_000
    assert chaos.stamp_us(after, after.epoch_us, jump) == EPOCH - 5_000_000 + 3_600_000_000
    # The same read always gives the same text, however often it is sent.
    texts = {format_time(chaos.stamp_us(at, at.epoch_us, jump), "iso") for _ in range(5)}
    assert texts == {"2021-05-08T09:24:17.60"}
    assert format_time(chaos.stamp_us(before, before.epoch_us, jump), "iso") == (
        "2021-05-08T08:24:17.60"
    )
    back = ClockJump.parse("-0.25@1")
    assert chaos.stamp_us(before, EPOCH, back) == EPOCH - 250_000
    assert chaos.stamp_us(before, EPOCH, None) == EPOCH


@pytest.mark.parametrize("text", ["3600", "3600@", "@5", "x@5", "1@-2", "1@a"])
def test_a_bad_clock_jump_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ClockJump.parse(text)


def test_garbage_lines_are_never_a_read_and_always_rejected() -> None:
    ct_parser = pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")
    kinds: set[str] = set()
    for seed in range(50):
        rng = chaos.connection_rng(seed, "sim-garbage")
        for _ in range(40):
            line = chaos.garbage_line(rng, "FINISH")
            assert b"\n" not in line and b"\r" not in line and b"\0" not in line
            assert not VALID_READ.match(line), line
            batch = ct_parser.Parser(max_line_len=4096).feed(line + b"\r\n")
            # Every garbage line is one rejected line: not a read, not a session line.
            assert batch.reads == [] and batch.sessions == [], line
            assert len(batch.errors) == 1, line
            kinds.add(batch.errors[0].reason)
    assert {"unrecognised", "bad_seq", "field_count", "not_utf8"} <= kinds


def test_garbage_never_looks_like_a_read_even_without_the_parser() -> None:
    seen: set[bytes] = set()
    for seed in range(200):
        rng = chaos.connection_rng(seed, "sim-garbage")
        for _ in range(20):
            line = chaos.garbage_line(rng)
            assert line.strip()
            assert not VALID_READ.match(line)
            assert line.split(b"~")[0] not in {b"ping", b"start", b"stop", b"ack", b"err"}
            assert b"=" not in line or line.startswith(b"CT01_33")
            seen.add(line[:7])
    assert b"CT01_33" in seen


def test_choices_are_deterministic_for_a_seed_and_connection() -> None:
    def draws(seed: int, cid: str) -> list[object]:
        rng = chaos.connection_rng(seed, cid)
        return [
            chaos.should(rng, 0.3),
            chaos.line_end(rng, mixed=True),
            chaos.garbage_line(rng),
            chaos.split_pieces(b"x" * 500, rng),
            [chaos.should(rng, 0.5) for _ in range(20)],
        ]

    assert draws(7, "sim-FINISH1") == draws(7, "sim-FINISH1")
    assert draws(7, "sim-FINISH1") != draws(8, "sim-FINISH1")
    assert draws(7, "sim-FINISH1") != draws(7, "sim-FINISH2")


def test_rates_of_zero_and_one_are_exact() -> None:
    rng = chaos.connection_rng(1, "x")
    assert not any(chaos.should(rng, 0.0) for _ in range(1000))
    assert all(chaos.should(rng, 1.0) for _ in range(1000))
    hits = sum(chaos.should(rng, 0.1) for _ in range(10_000))
    assert 800 < hits < 1200


def test_huge_line_has_one_newline_at_the_end() -> None:
    line = chaos.huge_line(10_000)
    assert len(line) == 10_001 and line.endswith(b"\n") and line.count(b"\n") == 1
    assert b"\r" not in line


def test_options_are_checked_and_know_when_they_change_the_bytes() -> None:
    assert not ChaosOptions().active
    assert not ChaosOptions(clock_jump=ClockJump(1, 1)).active
    assert ChaosOptions(split=True).active and ChaosOptions(garbage_rate=0.1).active
    with pytest.raises(ValueError):
        ChaosOptions(drop_rate=1.5)
    with pytest.raises(ValueError):
        ChaosOptions(garbage_rate=-0.1)


def test_the_command_line_builds_the_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = (
        "--synthetic 10 --fast --reconnect --linger 5 --chaos-seed 9 --drop-rate 0.01"
        " --split --mixed-eol --garbage-rate 0.05 --huge-line 9000 --clock-jump 60@100"
    )
    args = parser.parse_args(flags.split(" "))
    assert args.reconnect and args.linger == 5.0
    assert chaos_from_args(args) == ChaosOptions(
        seed=9,
        drop_rate=0.01,
        split=True,
        mixed_eol=True,
        garbage_rate=0.05,
        huge_line=9000,
        clock_jump=ClockJump(60.0, 100),
    )
    plain = parser.parse_args(["--synthetic", "10"])
    assert chaos_from_args(plain) is None and not plain.reconnect and plain.linger is None
    for bad in (["--drop-rate", "2"], ["--clock-jump", "60"], ["--linger", "-1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
