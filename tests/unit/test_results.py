"""Results from reads: gun and chip time, places per distance and gender, DNF/DNS, chip rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.domain.reads import EXACT, STRIP_ZEROS
from app.domain.results import (
    Entrant,
    GunStart,
    Placing,
    TimingRead,
    compute_results,
    format_elapsed,
    format_time_of_day,
)

GUN = datetime(2026, 5, 17, 8, 0, 0, tzinfo=UTC)
KINDS = {"START": "start", "FINISH": "finish", "5K": "split", "ANN": "announcer"}


def at(seconds: float) -> datetime:
    return GUN + timedelta(seconds=seconds)


def read(tag: str, seconds: float, location: str = "FINISH", session: int = 1) -> TimingRead:
    return TimingRead(session, location, tag, at(seconds))


def gun(seconds: float = 0, location: str = "START", session: int = 1) -> GunStart:
    return GunStart(session, location, at(seconds))


def person(pid: int, bib: str, chip: str, gender: str = "M", **kw: Any) -> Entrant:
    return Entrant(
        id=pid,
        bib=bib,
        first_name=kw.pop("first_name", f"Runner{pid}"),
        last_name=kw.pop("last_name", "Test"),
        gender=gender,
        chips=(chip,) if chip else (),
        **kw,
    )


def results(
    reads: list[TimingRead],
    entrants: list[Entrant],
    guns: list[GunStart] | None = None,
    chip_bibs: dict[str, str] | None = None,
    **kw: Any,
) -> list[Placing]:
    return compute_results(
        reads=reads,
        guns=[gun()] if guns is None else guns,
        entrants=entrants,
        chip_bibs=chip_bibs or {},
        location_kinds=KINDS,
        **kw,
    )


def table(placings: list[Placing]) -> list[tuple[Any, ...]]:
    return [
        (p.sub_event, p.row.place, p.row.bib, p.row.status, p.row.clock_time, p.row.chip_time,
         p.gender_place)
        for p in placings
    ]  # fmt: skip


def test_times_are_cut_to_the_tenth_never_rounded_up() -> None:
    assert format_elapsed(timedelta(seconds=1020.19)) == "0:17:00.1"
    assert format_elapsed(timedelta(seconds=1020.99999)) == "0:17:00.9"
    assert format_elapsed(timedelta(hours=26, minutes=3, seconds=4)) == "26:03:04.0"
    assert format_elapsed(timedelta(0)) == "0:00:00.0"
    oslo = datetime(2026, 5, 17, 6, 5, 9, 870_000, tzinfo=UTC)
    assert format_time_of_day(oslo, ZoneInfo("Europe/Oslo")) == "8:05:09.8"


def test_gun_time_and_chip_time_from_the_start_mat() -> None:
    entrants = [person(1, "101", "5001"), person(2, "102", "5002")]
    reads = [
        read("5001", 3.0, "START"),  # crossed the start 3 s after the gun
        read("5001", 1000.55),
        read("5002", 1010.0),  # no start read: chip time is the gun time
    ]
    assert table(results(reads, entrants)) == [
        ("", 1, "101", "finished", "0:16:40.5", "0:16:37.5", 1),
        ("", 2, "102", "finished", "0:16:50.0", "0:16:50.0", 2),
    ]


def test_places_go_by_gun_time_by_default_and_by_chip_time_as_an_option() -> None:
    entrants = [person(1, "1", "1001"), person(2, "2", "1002")]
    reads = [
        read("1001", 0.5, "START"),
        read("1001", 600.0),  # gun 10:00.0, chip 9:59.5
        read("1002", 60.0, "START"),
        read("1002", 605.0),  # gun 10:05.0, chip 9:05.0
    ]
    by_gun = results(reads, entrants)
    assert [p.row.bib for p in by_gun] == ["1", "2"]
    by_chip = results(reads, entrants, rank_by="chip")
    assert [(p.row.bib, p.row.place, p.row.chip_time) for p in by_chip] == [
        ("2", 1, "0:09:05.0"),
        ("1", 2, "0:09:59.5"),
    ]


def test_gender_places_and_places_restart_for_each_distance() -> None:
    entrants = [
        person(1, "11", "11", "M", sub_event="10K"),
        person(2, "12", "12", "F", sub_event="10K"),
        person(3, "13", "13", "F", sub_event="10K"),
        person(4, "14", "14", "X", sub_event="10K"),
        person(5, "15", "15", "U", sub_event="10K"),
        person(6, "51", "51", "F", sub_event="5K"),
        person(7, "52", "52", "M", sub_event="5K"),
    ]
    reads = [
        read("12", 2400),
        read("11", 2500),
        read("13", 2600),
        read("14", 2700),
        read("15", 2800),
        read("52", 1300),
        read("51", 1200),
    ]
    placed = results(reads, entrants)
    assert [(p.sub_event, p.row.place, p.row.bib, p.gender_place) for p in placed] == [
        ("10K", 1, "12", 1),
        ("10K", 2, "11", 1),
        ("10K", 3, "13", 2),
        ("10K", 4, "14", 1),
        ("10K", 5, "15", None),  # unknown gender: no gender place
        ("5K", 1, "51", 1),
        ("5K", 2, "52", 1),
    ]  # fmt: skip


def test_the_first_finish_counts_and_a_read_before_the_gun_is_ignored() -> None:
    entrants = [person(1, "7", "7")]
    reads = [
        read("7", -120.0),  # warming up over the finish mat before the gun
        read("7", 1500.0),
        read("7", 1503.0),  # crossed again, walking back
        read("7", 900.0, "5K"),  # a split mat: not a finish
        read("7", 950.0, "ANN"),
    ]
    [p] = results(reads, entrants)
    assert (p.row.clock_time, p.finish_at) == ("0:25:00.0", at(1500.0))


def test_finish_reads_at_the_start_are_ignored_on_a_course_starting_on_the_finish_mats() -> None:
    entrants = [person(1, "7", "7"), person(2, "8", "8")]
    reads = [
        read("7", 4.0),  # crossing the finish mats in the start wave
        read("8", 6.0),
        read("8", 1400.0),
        read("7", 1500.0),
    ]
    counted = results(reads, entrants, min_finish_s=600)
    assert [(p.row.bib, p.row.place, p.row.clock_time) for p in counted] == [
        ("8", 1, "0:23:20.0"),
        ("7", 2, "0:25:00.0"),
    ]
    # Without the setting the start crossings would be the finishes.
    assert [p.row.clock_time for p in results(reads, entrants)] == ["0:00:04.0", "0:00:06.0"]


def test_a_start_read_before_the_gun_is_not_the_start() -> None:
    entrants = [person(1, "7", "7")]
    reads = [read("7", -30.0, "START"), read("7", 4.0, "START"), read("7", 1504.0)]
    [p] = results(reads, entrants)
    assert (p.row.clock_time, p.row.chip_time) == ("0:25:04.0", "0:25:00.0")


def test_the_session_gun_at_the_finish_location_wins_over_the_event_gun() -> None:
    entrants = [person(1, "1", "1"), person(2, "2", "2")]
    guns = [gun(0, "START", session=1), gun(30, "FINISH", session=2)]
    reads = [read("1", 600.0, session=1), read("2", 630.0, session=2)]
    placed = results(reads, entrants, guns=guns)
    # Session 1 has no gun at FINISH: the event's first gun counts.
    assert [(p.row.bib, p.row.clock_time, p.gun_at) for p in placed] == [
        ("1", "0:10:00.0", at(0)),
        ("2", "0:10:00.0", at(30)),
    ]


def test_without_a_gun_the_clock_time_is_the_time_of_day() -> None:
    entrants = [person(1, "1", "1"), person(2, "2", "2")]
    reads = [read("2", 100.0), read("1", 200.0, "START"), read("1", 700.25)]
    placed = results(reads, entrants, guns=[], time_zone="America/New_York")
    assert table(placed) == [
        ("", 1, "2", "finished", "4:01:40.0", "4:01:40.0", 1),
        ("", 2, "1", "finished", "4:11:40.2", "0:08:20.2", 2),
    ]


def test_unknown_chips_and_control_tags_make_no_result() -> None:
    entrants = [person(1, "1", "1")]
    reads = [read("999", 500.0), read("guntime", 0.0), read("GUNTIME", 0.0), read("1", 600.0)]
    assert [p.row.bib for p in results(reads, entrants)] == ["1"]


def test_chip_file_names_the_wearer_but_a_registered_chip_comes_first() -> None:
    entrants = [person(1, "1", "4444"), person(2, "2", "")]
    chip_bibs = {"4444": "2", "5555": "2", "6666": "404"}  # 404: a bib nobody wears
    reads = [read("4444", 600.0), read("5555", 610.0), read("6666", 500.0)]
    placed = results(reads, entrants, chip_bibs=chip_bibs)
    assert [(p.row.bib, p.row.clock_time) for p in placed] == [
        ("1", "0:10:00.0"),
        ("2", "0:10:10.0"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(STRIP_ZEROS, ["1", "2"]), (EXACT, ["2"])],
)
def test_tag_modes_decide_whether_leading_zeros_count(mode: str, expected: list[str]) -> None:
    # Registered as 9573 (stored normalised); the decoder reads 009573.
    entrants = [person(1, "1", "9573"), person(2, "2", "abc1")]
    reads = [read("009573", 600.0), read(" ABC1 ", 700.0)]
    assert [p.row.bib for p in results(reads, entrants, tag_mode=mode)] == expected


def test_dnf_and_dns_follow_the_finishers_and_the_registered_without_reads_are_left_out() -> None:
    entrants = [
        person(1, "1", "1", sub_event="10K"),
        person(2, "2", "2", sub_event="10K", status="dns"),
        person(3, "3", "3", sub_event="10K", status="dnf"),
        person(4, "4", "4", sub_event="10K"),  # registered, no reads: still out there
        person(5, "5", "5", sub_event="10K", status="dnf"),  # marked DNF yet finished
        person(6, "6", "6", sub_event="10K", status="cancelled"),  # not in the race at all
        person(7, "10", "", sub_event="10K", status="dnf"),
    ]
    reads = [read("1", 600.0), read("5", 700.0), read("6", 650.0), read("3", 100.0, "START")]
    assert table(results(reads, entrants)) == [
        ("10K", 1, "1", "finished", "0:10:00.0", "0:10:00.0", 1),
        ("10K", 2, "5", "finished", "0:11:40.0", "0:11:40.0", 2),
        ("10K", None, "3", "dnf", "", "", None),
        ("10K", None, "10", "dnf", "", "", None),
        ("10K", None, "2", "dns", "", "", None),
    ]


def test_ties_go_to_the_earlier_finish_instant_then_the_lower_bib() -> None:
    entrants = [person(1, "10", "10"), person(2, "9", "9"), person(3, "8", "8")]
    guns = [gun(0, "FINISH", session=1), gun(5, "FINISH", session=2)]
    reads = [read("10", 600.0, session=1), read("9", 600.0, session=1), read("8", 605.0, session=2)]
    # All three ran 10:00.0; bib 8 finished last by the clock, bib 9 before bib 10 by number.
    assert [p.row.bib for p in results(reads, entrants, guns=guns)] == ["9", "10", "8"]


def test_result_rows_carry_what_the_results_sites_need() -> None:
    entrant = person(
        1, "0099", "1", "F", first_name="Avery", last_name="Testrunner", age=36,
        birth_date=date(1990, 4, 12), city="Moorestown", state="NJ", country="US",
        source_id="3100001",
    )  # fmt: skip
    typed_in = person(2, "100", "2")
    [a, b] = results([read("1", 600.0), read("2", 601.0)], [entrant, typed_in])
    assert (a.row.first_name, a.row.last_name, a.row.gender, a.row.age, a.row.birth_date) == (
        "Avery", "Testrunner", "F", 36, date(1990, 4, 12),
    )  # fmt: skip
    assert (a.row.bib, a.row.city, a.row.state, a.row.country) == ("0099", "Moorestown", "NJ", "US")
    assert a.row.source_id == "3100001"
    assert b.row.source_id == "rd-2"  # entered by hand: our own id stands in


def test_the_same_input_gives_the_same_results_in_any_read_order() -> None:
    entrants = [
        person(i, str(i), str(i), "MF"[i % 2], sub_event="10K" if i % 2 else "5K")
        for i in range(1, 30)
    ]
    reads = [read(str(i), 600.0 + (i * 7919) % 97, "FINISH") for i in range(1, 30)]
    reads += [read(str(i), (i * 31) % 11, "START") for i in range(1, 30)]
    first = results(reads, entrants)
    assert results(list(reversed(reads)), list(reversed(entrants))) == first
    assert len(first) == 29
