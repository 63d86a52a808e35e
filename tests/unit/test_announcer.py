"""The announcer's lists: coming next at a mat, and finishes projected from split pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.announcer import (
    MIN_FINISHERS,
    coming_next,
    default_mat,
    mat_choices,
    progress,
    projected_arrivals,
    split_medians,
)
from app.domain.catalog import EventLocation

GUN = datetime(2026, 5, 17, 8, 0, tzinfo=UTC)
LOCATIONS = [
    EventLocation("START", "start", 0),
    EventLocation("5K", "split", 1),
    EventLocation("10K", "split", 2),
    EventLocation("FINISH", "finish", 3),
]
KINDS = {loc.name: loc.kind for loc in LOCATIONS}


def at(minutes: float) -> datetime:
    return GUN + timedelta(minutes=minutes)


def owners(*pids: int) -> dict[str, int]:
    """Chip "C<pid>" → pid."""
    return {f"C{pid}": pid for pid in pids}


def test_mat_choices_leave_out_the_finish_and_follow_the_course() -> None:
    shuffled = [LOCATIONS[3], LOCATIONS[1], LOCATIONS[0], LOCATIONS[2]]
    assert mat_choices(shuffled) == ["START", "5K", "10K"]
    # The last split by position, whatever the order the locations come in.
    assert default_mat(shuffled) == "10K"
    # A location of the announcer kind wins; without splits the start; without either none.
    assert default_mat([*LOCATIONS, EventLocation("MILE 25", "announcer", 4)]) == "MILE 25"
    assert default_mat([LOCATIONS[0], LOCATIONS[3]]) == "START"
    assert default_mat([LOCATIONS[3]]) is None


def test_coming_next_excludes_finished_runners_newest_first() -> None:
    reads = [
        ("10K", "C1", at(40)),
        ("10K", "C2", at(42)),
        ("10K", "C3", at(41)),
        ("FINISH", "C1", at(55)),
        # Read at another mat only: not coming from this one.
        ("5K", "C4", at(20)),
    ]
    runners = progress(reads, owners(1, 2, 3, 4), KINDS, GUN)
    assert [c.participant_id for c in coming_next(runners, "10K")] == [2, 3]
    assert coming_next(runners, "10K")[0].at == at(42)


def test_the_mat_choice_decides_who_is_coming() -> None:
    reads = [("5K", "C1", at(20)), ("5K", "C2", at(21)), ("10K", "C1", at(41))]
    runners = progress(reads, owners(1, 2), KINDS, GUN)
    assert [c.participant_id for c in coming_next(runners, "5K")] == [2, 1]
    assert [c.participant_id for c in coming_next(runners, "10K")] == [1]
    assert coming_next(runners, "START") == []


def test_a_runner_read_twice_at_the_mat_counts_once_at_the_first_read() -> None:
    reads = [("10K", "C1", at(40.5)), ("10K", "C1", at(40)), ("10K", "C2", at(39))]
    runners = progress(reads, owners(1, 2), KINDS, GUN)
    coming = coming_next(runners, "10K")
    assert [c.participant_id for c in coming] == [1, 2]
    assert coming[0].at == at(40)


def test_two_chips_of_one_runner_are_one_runner_and_unknown_chips_are_left_out() -> None:
    chips = {"C1": 1, "SHOE1": 1}
    reads = [("10K", "C1", at(40)), ("10K", "SHOE1", at(40.1)), ("10K", "NOBODY", at(41))]
    runners = progress(reads, chips, KINDS, GUN)
    assert list(runners) == [1]
    assert [c.participant_id for c in coming_next(runners, "10K")] == [1]


def test_reads_before_the_gun_and_finish_crossings_at_the_start_are_ignored() -> None:
    reads = [
        # Warm-up over the 10K mat before the gun: not a split.
        ("10K", "C1", at(-10)),
        # The course starts on the finish mats: a crossing, not a finish.
        ("FINISH", "C2", at(0.5)),
        ("10K", "C2", at(45)),
    ]
    runners = progress(reads, owners(1, 2), KINDS, GUN, min_finish_s=600)
    assert 1 not in runners
    assert runners[2].finished_at is None
    assert [c.participant_id for c in coming_next(runners, "10K")] == [2]


def _finishers(legs: list[float], start: int = 100) -> list[tuple[str, str, datetime]]:
    """Runners start, start+1, … passing 10K at minute 40 and finishing `leg` minutes later."""
    reads = []
    for i, leg in enumerate(legs):
        reads += [("10K", f"C{start + i}", at(40)), ("FINISH", f"C{start + i}", at(40 + leg))]
    return reads


def test_projection_is_the_last_split_plus_the_median_time_to_the_finish() -> None:
    reads = [
        *_finishers([20, 22, 30]),
        ("5K", "C1", at(25)),
        ("10K", "C1", at(50)),
        ("10K", "C2", at(48)),
    ]
    chips = owners(1, 2, 100, 101, 102)
    runners = progress(reads, chips, KINDS, GUN)
    medians = split_medians(runners, KINDS)
    assert medians["10K"] == timedelta(minutes=22)
    # Runner 1 passed 5K, but nobody who did has finished: no estimate from there.
    assert medians["5K"] is None
    arrivals = projected_arrivals(runners, KINDS, medians, as_of=at(50))
    # Projected from their last split (10K), soonest first; finishers are not arrivals.
    assert [(p.participant_id, p.location, p.eta) for p in arrivals] == [
        (2, "10K", at(70)),
        (1, "10K", at(72)),
    ]


def test_an_even_number_of_finishers_takes_the_middle_two() -> None:
    runners = progress(_finishers([20, 22, 24, 40]), owners(100, 101, 102, 103), KINDS, GUN)
    assert split_medians(runners, KINDS)["10K"] == timedelta(minutes=23)


def test_fewer_than_three_finishers_from_a_split_give_no_estimate() -> None:
    assert MIN_FINISHERS == 3
    reads = [*_finishers([20, 22]), ("10K", "C1", at(50)), ("5K", "C2", at(30))]
    runners = progress(reads, owners(1, 2, 100, 101), KINDS, GUN)
    medians = split_medians(runners, KINDS)
    assert medians["10K"] is None
    arrivals = projected_arrivals(runners, KINDS, medians, as_of=at(50))
    # Without an estimate: still listed, in the order they passed their split.
    assert [(p.participant_id, p.eta) for p in arrivals] == [(2, None), (1, None)]


def test_arrivals_are_limited_and_long_overdue_runners_left_out() -> None:
    reads = [*_finishers([20, 20, 20])]
    reads += [("10K", f"C{pid}", at(40 + pid)) for pid in range(1, 41)]
    chips = owners(*range(1, 41), 100, 101, 102)
    runners = progress(reads, chips, KINDS, GUN)
    medians = split_medians(runners, KINDS)
    # As of minute 90: runner 1 was due at 61, more than 15 minutes ago; runner 15 at 75.
    arrivals = projected_arrivals(runners, KINDS, medians, as_of=at(90))
    ids = [p.participant_id for p in arrivals]
    assert ids[0] == 15 and len(ids) == 26
    assert [p.participant_id for p in projected_arrivals(runners, KINDS, medians, None)][:2] == [
        1,
        2,
    ]
    assert len(projected_arrivals(runners, KINDS, medians, None)) == 30
