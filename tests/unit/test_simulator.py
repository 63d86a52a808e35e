"""The simulator's sources, time fields and timeline, without sockets."""

from __future__ import annotations

import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulator.chaos import ClockJump
from simulator.client import ConnectionResult, format_time, read_line
from simulator.replay import SimulationResult, Timeline, build_schedule
from simulator.sources import (
    GUN_TAG,
    Capture,
    ControllerFiles,
    SimRead,
    Stream,
    SyntheticRace,
    list_tags,
    load_point,
    parse_epoch_us,
)

EPOCH = 1_620_462_257_600_000  # 2021-05-08T08:24:17.60Z


def test_time_fields_in_every_format() -> None:
    assert format_time(EPOCH, "iso") == "2021-05-08T08:24:17.60"
    assert format_time(EPOCH, "normal") == "08:24:17.60"
    assert format_time(EPOCH, "unix") == "1620462257.60"
    assert format_time(EPOCH, "msecs") == "1620462257600"


def test_read_line_is_ct01_33_with_crlf() -> None:
    read = SimRead(41, "FINISH", "1187", EPOCH, 1, "0D4E5F", 2)
    line = read_line(read, format_time(EPOCH, "iso"))
    assert line == "CT01_33~41~FINISH~1187~2021-05-08T08:24:17.60~1~0D4E5F~2\r\n"


def test_epochs_parse_exactly() -> None:
    assert parse_epoch_us("1620462257.60") == EPOCH
    assert parse_epoch_us("1620462257") == 1_620_462_257_000_000
    with pytest.raises(ValueError):
        parse_epoch_us("16204x")


def _point(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "0001.csv").write_text(
        "TO~1~009573~160~18~1620460343.17~104484~8~-71~00001~P~10\r\n"
        "TO~2~7025~160~18~1620460350.57~104484~4~-73~00002~P\r\n"
    )
    (folder / "0002.csv").write_text("TO~1~99995~160~1~1620460900.00~10E747~8~-59~1~P\r\n")
    (folder / "0002.mrk").write_text(
        "E92EBB,1,Powerup,1,21050807094624,Controller\nE92EBB,2,Gun,1,21050808005516,Button Press\n"
    )
    return folder


def test_a_timing_point_concatenates_its_files_and_renumbers(tmp_path: Path) -> None:
    stream = load_point(_point(tmp_path, "FINISH3"))
    assert stream.connection_id == "sim-FINISH3" and stream.locations == ("FINISH3",)
    assert [(r.seq, r.tag, r.antenna) for r in stream.reads] == [
        (1, "009573", 8),
        (2, "7025", 4),
        (3, "99995", 8),
    ]
    assert stream.reads[0].reader == "104484"
    assert stream.reads[0].epoch_us == 1_620_460_343_170_000


def test_gun_markers_become_guntime_reads_at_start_points(tmp_path: Path) -> None:
    start = load_point(_point(tmp_path, "START9"), guntimes=True)
    guns = [r for r in start.reads if r.tag == GUN_TAG]
    assert len(guns) == 1
    gun = guns[0]
    # Before the read that was next when the button was pressed, sharing its seq.
    assert start.reads.index(gun) == 2 and gun.seq == 3
    assert (gun.lap, gun.antenna, gun.reader) == (0, 0, "10E747")
    assert format_time(gun.epoch_us, "iso") == "2021-05-08T08:00:55.16"
    finish = load_point(_point(tmp_path, "FINISH9"), guntimes=True)
    assert all(r.tag != GUN_TAG for r in finish.reads)


def test_controller_files_one_connection_per_point(tmp_path: Path) -> None:
    _point(tmp_path, "A")
    _point(tmp_path, "B")
    source = ControllerFiles(tmp_path)
    assert [s.connection_id for s in source.streams()] == ["sim-A", "sim-B"]
    assert [s.connection_id for s in ControllerFiles(tmp_path, points=("B",)).streams()] == [
        "sim-B"
    ]
    with pytest.raises(ValueError, match="no timing point C"):
        ControllerFiles(tmp_path, points=("C",)).streams()
    assert list_tags([source]) == {"009573", "7025", "99995"}


def test_capture_keeps_seq_and_rolls_time_of_day_past_midnight(tmp_path: Path) -> None:
    path = tmp_path / "night.txt"
    path.write_text(
        "SimpleClient~0.6.0~CTP01\n"
        "CT01_33~9001~LAP~77~23:59:59.87~3~0D4E5F~1\r\n"
        "CT01_33~9002~LAP~78~00:00:00.12~3~0D4E5F~2\r\n"
        "CT01_13,7,FINISH,2311,2026-10-05T08:23:09.61,1,0D4E5F,4\r\n"
    )
    [stream] = Capture(path).streams()
    assert stream.connection_id == "sim-night"
    assert stream.locations == ("LAP", "FINISH")
    a, b, c = stream.reads
    assert (a.seq, b.seq, c.seq) == (9001, 9002, 7)
    assert b.epoch_us - a.epoch_us == 250_000
    assert format_time(c.epoch_us, "iso") == "2026-10-05T08:23:09.61"


def test_the_synthetic_race_is_deterministic_and_realistic() -> None:
    [stream] = SyntheticRace(300, seed=3).streams()
    assert stream == SyntheticRace(300, seed=3).streams()[0]
    assert stream != SyntheticRace(300, seed=4).streams()[0]
    reads = stream.reads
    assert [r.seq for r in reads] == list(range(1, len(reads) + 1))
    assert reads[0].tag == GUN_TAG and reads[0].location == "START"
    athletes = [r for r in reads if r.tag != GUN_TAG]
    assert {r.tag for r in athletes} == {str(n) for n in range(1, 301)}
    per_passing = len(athletes) / 600
    assert 1.1 < per_passing < 1.3  # about one passing in five is read twice
    back = sum(1 for x, y in itertools.pairwise(athletes) if y.epoch_us < x.epoch_us)
    assert back > len(athletes) // 10  # emitted when leaving the field, not in crossing order
    first_finish = min(r.epoch_us for r in athletes if r.location == "FINISH")
    last_start = max(r.epoch_us for r in athletes if r.location == "START")
    assert first_finish > last_start


def test_timeline_scales_and_caps_silences() -> None:
    s = 1_000_000
    reads = [SimRead(i, "X", "1", t * s, 1, "R", 1) for i, t in enumerate((100, 101, 500, 502))]
    timeline = Timeline((r.epoch_us for r in reads), speed=2.0, max_gap=10)
    assert [timeline.offset(r) for r in reads] == [0.0, 0.5, 5.5, 6.5]
    assert timeline.duration == 6.5
    unsorted = Timeline([5 * s, 2 * s])
    assert unsorted.offset(SimRead(1, "X", "1", 5 * s, 1, "R", 1)) == 3.0


def test_wall_clock_formats_take_the_setup_zone() -> None:
    oslo = ZoneInfo("Europe/Oslo")
    assert format_time(EPOCH, "iso", oslo) == "2021-05-08T10:24:17.60"
    assert format_time(EPOCH, "normal", oslo) == "10:24:17.60"
    assert format_time(EPOCH, "unix", oslo) == "1620462257.60"


def test_the_demo_starts_at_the_first_rush_and_keeps_the_gun() -> None:
    from simulator.demo import from_first_rush
    from simulator.sources import SimRead, Stream

    second = 1_000_000
    quiet = [SimRead(i, "FINISH", str(i), i * 600 * second, 1, "0A", 1) for i in range(1, 4)]
    gun = SimRead(4, "FINISH", "guntime", 3000 * second, 0, "0A", 0)
    rush = [
        SimRead(5 + i, "FINISH", str(100 + i), 4000 * second + i * second, 1, "0A", 1)
        for i in range(40)
    ]
    stream = Stream("sim-FINISH", ("FINISH",), (*quiet, gun, *rush))
    (trimmed,) = from_first_rush((stream,), window_s=60, min_reads=30)
    assert [r.tag for r in trimmed.reads][:2] == ["guntime", "100"]
    assert len(trimmed.reads) == 41
    assert [r.seq for r in trimmed.reads] == list(range(1, 42))


def test_the_schedule_stamps_a_read_the_same_way_every_time() -> None:
    s = 1_000_000
    reads = tuple(SimRead(i, "FINISH", str(i), EPOCH + i * s, 1, "0D4E5F", 2) for i in range(1, 6))
    stream = Stream("sim-x", ("FINISH",), reads)
    now_us = 1_800_000_000 * s
    jump = ClockJump(-60, 4)
    live = build_schedule([stream], started=5.0, now_us=now_us, speed=2.0, retime=True)
    again = build_schedule([stream], started=99.0, now_us=now_us, speed=2.0, retime=True)
    assert [live.stamp(r) for r in reads] == [again.stamp(r) for r in reads]
    assert [live.stamp(r) - now_us for r in reads] == [0, s // 2, s, 3 * s // 2, 2 * s]
    assert live.send_offset is not None and live.send_offset(reads[2]) == 1.0
    jumped = build_schedule([stream], started=0.0, now_us=now_us, clock_jump=jump)
    assert jumped.send_offset is None
    assert [jumped.stamp(r) - r.epoch_us for r in reads] == [0, 0, 0, -60 * s, -60 * s]
    assert [jumped.stamp(r) for r in reads] == [jumped.stamp(r) for r in reads]


def test_results_add_up_over_connections() -> None:
    a = ConnectionResult("a", reads_sent=10, connects=2, reconnects=3, drops=1, resent=4)
    a.garbage_lines = 2
    b = ConnectionResult("b", reads_sent=5, connects=1, error="ConnectionRefusedError: no")
    result = SimulationResult([a, b], elapsed=5.0)
    assert result.total == 15 and result.reads_per_second == 3.0
    assert (result.connects, result.drops, result.resent, result.garbage_lines) == (3, 1, 4, 2)
    assert result.errors == {"b": "ConnectionRefusedError: no"}
    assert a.summary() == (
        "10 reads (4 resent), 2 connects, 3 reconnects, 1 drops, 2 garbage, 0 huge; ok"
    )
    assert b.summary().endswith("error: ConnectionRefusedError: no")
