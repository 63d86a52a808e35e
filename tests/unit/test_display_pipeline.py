"""The per-display pipeline: repeats, locations, times, places, late reads, bursts, determinism."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count, pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.display_pipeline import (
    AlsoFinished,
    DisplayEvent,
    DisplayPipeline,
    DisplayRules,
    Entrant,
    Featured,
    PlaceChange,
    PlaceChanges,
    Places,
    RaceContext,
    RunnerView,
    age_group,
    distance_km,
    entrant_lookup,
)
from app.domain.reads import EXACT, StoredRead

GUN = datetime(2021, 5, 8, 8, 0, 0, tzinfo=UTC)
RACE = RaceContext(
    zone=ZoneInfo("Europe/Berlin"),
    start_locations=frozenset({"START"}),
    finish_locations=frozenset({"FINISH", "FINISH2"}),
    event_start=GUN,
)


class Reads:
    """Reads with ids in the order they are made, times in seconds after GUN."""

    def __init__(self) -> None:
        self._ids = count(1)

    def __call__(self, tag: str, seconds: float, location: str = "FINISH") -> StoredRead:
        rid = next(self._ids)
        at = GUN + timedelta(seconds=seconds)
        return StoredRead(rid, 1, location, tag, at, rid, 1)


def runner(
    pid: int,
    gender: str = "M",
    age: int | None = 42,
    sub_event: str = "10K",
    vip: bool = False,
) -> Entrant:
    return Entrant(pid, str(pid), f"First{pid}", f"Last{pid}", gender, age, sub_event, vip)


def people(*entrants: Entrant) -> dict[str, Entrant]:
    return {e.bib: e for e in entrants}


def shown(events: Sequence[DisplayEvent]) -> list[RunnerView]:
    return [e.runner for e in events if isinstance(e, Featured | AlsoFinished)]


def pipeline(entrants: dict[str, Entrant], **rules: object) -> DisplayPipeline:
    return DisplayPipeline(DisplayRules(**rules), RACE, entrants)  # type: ignore[arg-type]


def test_repeats_within_the_window_of_read_time_are_dropped() -> None:
    read = Reads()
    p = pipeline(people(runner(1)), duplicate_window_s=5)
    events = p.feed(
        [
            read("1", 100.0),
            read("0001", 104.9),  # same chip under strip_zeros, within 5 s
            read("1", 98.0),  # earlier in read time, still within 5 s
            read("1", 105.0),  # 5 s after the kept read: a new read (a repeat finish)
            read("1", 100.5, "FINISH2"),  # another location has its own window
        ]
    )
    views = shown(events)
    assert [v.read_id for v in views] == [1, 4, 5]
    assert [v.repeat for v in views] == [False, True, True]
    # Placed once, at the first finish read; the repeats carry that place.
    assert {v.places for v in views} == {Places(1, 1, 1)}


def test_repeats_can_be_hidden_and_early_finish_crossings_are_not_placed() -> None:
    read = Reads()
    race = replace(RACE, min_finish_s=600)
    p = DisplayPipeline(DisplayRules(show_repeats=False), race, people(runner(1), runner(2)))
    views = shown(
        p.feed(
            [
                read("1", 30),  # crossing the finish line at the start: shown, not placed
                read("1", 1_800),  # the finish
                read("2", 1_790),
                read("1", 1_900),  # a repeat, hidden
            ]
        )
    )
    assert [(v.participant_id, v.places.overall, v.repeat) for v in views] == [
        (1, None, False),
        (1, 1, False),
        (2, 1, False),
    ]
    # Runner 2 was faster: runner 1 moved to second; the early crossing stays unplaced.
    assert p.places_of(1) == Places(2, 2, 2)
    assert [v.places.overall for v in p.snapshot().recent] == [None, 1, 2]


def test_only_the_chosen_locations_are_shown_and_control_tags_never() -> None:
    read = Reads()
    p = pipeline(people(runner(1), runner(2)), locations=frozenset({"FINISH"}))
    events = p.feed(
        [
            read("newlocation", 1),
            read("2", 50, "9K"),
            read("1", 100, "FINISH2"),
            read("2", 101),
        ]
    )
    assert [(v.name, v.location) for v in shown(events)] == [("First2 Last2", "FINISH")]


def test_gun_and_chip_time() -> None:
    read = Reads()
    entrants = people(runner(1), runner(2), runner(3))
    race = replace(RACE, event_start=None)
    p = DisplayPipeline(DisplayRules(), race, entrants)
    # No gun yet: the time of day in the event's zone (Berlin is UTC+2 in May).
    first = shown(p.feed([read("3", 60)]))[0]
    assert (first.time, first.time_basis, first.gun_time, first.places) == (
        "10:01:00.0",
        "clock",
        "",
        Places(),
    )
    events = p.feed(
        [
            read("1", -600, "START"),  # warming up before the gun: not a start
            read("guntime", 0, "START"),
            read("1", 12.34, "START"),
            read("1", 15.0, "START"),  # the first start read after the gun counts
            read("1", 3_725.67),
            read("2", 3_726.0),  # no start read: chip time is the gun time
        ]
    )
    one, two = shown(events)
    assert (one.time, one.time_basis, one.gun_time, one.chip_time) == (
        "1:02:05.6",
        "gun",
        "1:02:05.6",
        "1:01:53.3",
    )
    assert one.pace == "6:11/km"
    assert (two.gun_time, two.chip_time) == ("1:02:06.0", "1:02:06.0")
    # A race clock on screen counts from the runner's gun (none before it), and the board's.
    assert first.gun_at is None
    assert one.gun_at == two.gun_at == p.snapshot().gun_at
    assert one.gun_at is not None and one.read_at - one.gun_at == timedelta(seconds=3_725.67)
    # Start-mat reads are remembered, never shown; they count even when the display shows
    # only the finish.
    assert all(v.location == "FINISH" for v in shown(events))


def test_the_gun_of_the_session_and_location_comes_first() -> None:
    read = Reads()
    p = pipeline(people(runner(1), runner(2)))
    p.feed([read("guntime", 10, "FINISH2"), read("guntime", 20, "FINISH")])
    a = shown(p.feed([read("1", 80, "FINISH")]))[0]
    b = shown(p.feed([read("2", 80, "FINISH2")]))[0]
    assert (a.gun_time, b.gun_time) == ("1:00.0", "1:10.0")


def test_places_overall_gender_and_age_group_per_sub_event() -> None:
    read = Reads()
    entrants = people(
        runner(1, "M", 42),
        runner(2, "F", 43),
        runner(3, "M", 44),
        runner(4, "M", 31),
        runner(5, "F", 19, sub_event="Half Marathon"),
        runner(6, "U", None),
        runner(7, "M", 75, sub_event="Half Marathon"),
    )
    p = pipeline(entrants)
    views = shown(p.feed([read(str(i), 100 + i) for i in range(1, 8)]))
    got = {v.participant_id: (v.places, v.age_group) for v in views}
    assert got == {
        1: (Places(1, 1, 1), "M40-44"),
        2: (Places(2, 1, 1), "F40-44"),
        3: (Places(3, 2, 2), "M40-44"),
        4: (Places(4, 3, 1), "M30-34"),
        5: (Places(1, 1, 1), "F0-19"),
        6: (Places(5, None, None), None),
        7: (Places(2, 1, 1), "M70+"),
    }


def test_a_late_faster_runner_takes_its_place_and_the_others_move_down() -> None:
    read = Reads()
    entrants = people(runner(1, "M", 40), runner(2, "F", 40), runner(3, "M", 50), runner(4))
    p = pipeline(entrants)
    p.feed([read("1", 100.0), read("2", 101.0), read("3", 102.0)])
    events = p.feed([read("4", 100.5)])  # 1.5 s behind the newest read: reordered
    assert len(events) == 2
    featured, moved = events
    assert isinstance(featured, Featured) and isinstance(moved, PlaceChanges)
    assert featured.runner.places == Places(2, 2, 2)
    assert not featured.runner.late
    # Its position in the finish list: after runner 1, before runners 2 and 3.
    assert featured.position == 1
    assert moved.changes == (
        PlaceChange(2, Places(3, 1, 1)),
        PlaceChange(3, Places(4, 3, 1)),
    )
    assert (featured.seq, moved.seq) == (3, 4)
    assert featured.read_id == moved.read_id == 4
    snap = p.snapshot()
    assert [v.participant_id for v in snap.recent] == [1, 4, 2, 3]
    assert [v.places.overall for v in snap.recent] == [1, 2, 3, 4]
    assert snap.last_seq == 4 and snap.last_read_id == 4


def test_a_read_later_than_the_window_is_flagged_shown_as_it_arrives_and_placed_by_time() -> None:
    read = Reads()
    entrants = people(runner(1), runner(2), runner(3))
    p = pipeline(entrants, reorder_window_s=10)
    p.feed([read("1", 100.0), read("2", 130.0)])
    events = p.feed([read("3", 110.0)])  # 20 s behind: beyond the window
    featured, moved = events
    assert isinstance(featured, Featured) and isinstance(moved, PlaceChanges)
    assert featured.runner.late
    assert featured.position == 2  # at the newest end, where it arrived
    assert featured.runner.places.overall == 2
    assert moved.changes == (PlaceChange(2, Places(3, 3, 3)),)
    assert [v.participant_id for v in p.snapshot().recent] == [1, 2, 3]


def test_unknown_chips_are_shown_by_chip_never_placed_or_hidden() -> None:
    read = Reads()
    p = pipeline(people(runner(1)))
    views = shown(p.feed([read("009573", 100), read("1", 101)]))
    chip, known = views
    assert (chip.name, chip.bib, chip.known, chip.places) == ("Chip 009573", "", False, Places())
    assert chip.participant_id is None
    assert known.places.overall == 1
    hidden = pipeline(people(runner(1)), show_unknown=False)
    read = Reads()
    assert [v.participant_id for v in shown(hidden.feed([read("9573", 1), read("1", 2)]))] == [1]


def test_burst_n_featured_per_second_the_rest_also_finished_vips_always_featured() -> None:
    read = Reads()
    entrants = people(*(runner(i, vip=i == 5) for i in range(1, 10)))
    p = pipeline(entrants, max_per_second=2, vips_first=True)
    events = p.feed([read(str(i), 100 + i / 10) for i in range(1, 9)] + [read("9", 101.2)])
    kinds = [
        (type(e).__name__, e.runner.participant_id)
        for e in events
        if not isinstance(e, PlaceChanges)
    ]
    assert kinds == [
        ("Featured", 1),
        ("Featured", 2),
        ("AlsoFinished", 3),
        ("AlsoFinished", 4),
        ("Featured", 5),  # a VIP, in a full second
        ("AlsoFinished", 6),
        ("AlsoFinished", 7),
        ("AlsoFinished", 8),
        ("Featured", 9),  # the next second has room again
    ]
    also = [e for e in events if isinstance(e, AlsoFinished)]
    assert [e.strip_position for e in also] == [0, 1, 2, 3, 4]
    assert [v.participant_id for v in p.snapshot().also] == [3, 4, 6, 7, 8]
    # Every runner is in the finish list, featured or not.
    assert len(p.snapshot().recent) == 9


def test_grouping_featured_runners_of_one_second() -> None:
    read = Reads()
    entrants = people(*(runner(i) for i in range(1, 6)))
    p = pipeline(entrants, group=True)
    events = p.feed(
        [read("1", 100.0), read("2", 100.6), read("3", 100.3), read("4", 101.5), read("5", 103)]
    )
    groups = [[v.participant_id for v in e.group] for e in events if isinstance(e, Featured)]
    # Runner 3 passed runner 2: the group is in read-time order with current places.
    assert groups == [[1], [1, 2], [1, 3, 2], [4], [5]]
    third = [e for e in events if isinstance(e, Featured)][2]
    assert [v.places.overall for v in third.group] == [1, 2, 3]
    assert [v.participant_id for v in p.snapshot().featured] == [5]
    # Without grouping every featured event carries one runner.
    read = Reads()
    alone = pipeline(entrants)
    single = alone.feed([read("1", 100.0), read("2", 100.6)])
    assert all(len(e.group) == 1 for e in single if isinstance(e, Featured))


def test_recent_list_is_capped_and_positions_follow_read_time() -> None:
    read = Reads()
    p = pipeline(people(*(runner(i) for i in range(1, 6))), recent_size=3)
    events = p.feed([read("1", 10), read("2", 11), read("3", 12), read("4", 13), read("5", 11.5)])
    positions = [e.position for e in events if isinstance(e, Featured)]
    assert positions == [0, 1, 2, 3, 1]
    # A screen inserts at position, then drops from the front beyond recent_size.
    screen: list[int] = []
    for e in events:
        if isinstance(e, Featured) and e.runner.participant_id is not None:
            screen.insert(e.position, e.runner.participant_id)
            del screen[: max(0, len(screen) - 3)]
    assert screen == [v.participant_id for v in p.snapshot().recent] == [5, 3, 4]


def test_reads_already_fed_are_ignored() -> None:
    read = Reads()
    reads = [read("1", 100), read("2", 101)]
    p = pipeline(people(runner(1), runner(2)))
    first = p.feed(reads)
    assert p.feed(reads) == []
    assert [e.seq for e in first] == [0, 1]


def test_small_helpers() -> None:
    assert distance_km("10K") == 10
    assert distance_km("5 km fun run") == 5
    assert distance_km("Half Marathon") == 21.0975
    assert distance_km("Marathon") == 42.195
    assert distance_km("10 mi") == 10 * 1.609344
    assert distance_km("Kids dash") is None
    assert age_group("F", 19) == "F0-19" and age_group("X", 65) == "X65-69"
    assert age_group("U", 40) is None and age_group("M", None) is None
    lookup = entrant_lookup([("009573", runner(1)), ("9573", runner(2))], EXACT)
    assert set(lookup) == {"009573", "9573"}


# --- determinism ---------------------------------------------------------------------------


def _race_reads(spec: list[tuple[int, int, int]]) -> list[StoredRead]:
    """A messy stream: tags 1..30 (31+ unknown), start and finish, times going back and forth."""
    read = Reads()
    out = [read("guntime", 0, "START")]
    for tag, tenths, where in spec:
        location = ("START", "FINISH", "FINISH2", "9K")[where]
        out.append(read(str(tag), tenths / 10, location))
    return out


def _entrants() -> dict[str, Entrant]:
    genders = "MFXU"
    return people(
        *(
            runner(i, genders[i % 4], 15 + i * 2, ("10K", "Half")[i % 2], vip=i % 7 == 0)
            for i in range(1, 31)
        )
    )


_SPEC = st.lists(st.tuples(st.integers(1, 34), st.integers(0, 400), st.integers(0, 3)), max_size=80)
_RULES = DisplayRules(max_per_second=2, group=True, vips_first=True, recent_size=5)


@settings(max_examples=60, deadline=None)
@given(spec=_SPEC, cuts=st.lists(st.integers(0, 81), max_size=6))
def test_any_batch_split_gives_the_same_events(
    spec: list[tuple[int, int, int]], cuts: list[int]
) -> None:
    reads = _race_reads(spec)
    whole = DisplayPipeline(_RULES, RACE, _entrants()).feed(reads)
    split = DisplayPipeline(_RULES, RACE, _entrants())
    pieces: list[DisplayEvent] = []
    bounds = [0, *sorted(c for c in cuts if c <= len(reads)), len(reads)]
    for lo, hi in pairwise(bounds):
        pieces.extend(split.feed(reads[lo:hi]))
    assert pieces == whole
    assert [e.seq for e in whole] == list(range(len(whole)))
    # Replaying the same history gives the same state as the live feed.
    replayed = DisplayPipeline(_RULES, RACE, _entrants())
    tail = replayed.replay(reads, keep_last=3)
    assert tail == whole[-3:] if whole else tail == []
    assert replayed.snapshot() == split.snapshot()


@settings(max_examples=60, deadline=None)
@given(spec=_SPEC)
def test_places_are_one_to_n_and_every_known_finisher_is_placed_once(
    spec: list[tuple[int, int, int]],
) -> None:
    p = DisplayPipeline(_RULES, RACE, _entrants())
    events = p.feed(_race_reads(spec))
    final: dict[int, Places] = {}
    for e in events:
        if isinstance(e, Featured | AlsoFinished):
            v = e.runner
            if v.participant_id is not None and v.location in RACE.finish_locations:
                if v.repeat:
                    assert v.participant_id in final
                else:
                    assert v.participant_id not in final
                    final[v.participant_id] = v.places
        elif isinstance(e, PlaceChanges):
            for c in e.changes:
                assert c.participant_id in final
                final[c.participant_id] = c.places
    for pid, places in final.items():
        assert p.places_of(pid) == places
    entrants = {e.participant_id: e for e in _entrants().values()}
    overall: dict[str, list[int]] = {}
    for pid, places in final.items():
        assert places.overall is not None
        overall.setdefault(entrants[pid].sub_event, []).append(places.overall)
    for got in overall.values():
        assert sorted(got) == list(range(1, len(got) + 1))


def test_two_pipelines_fed_the_same_reads_agree() -> None:
    spec = [(t % 34 + 1, (t * 37) % 400, t % 4) for t in range(300)]
    reads = _race_reads(spec)
    a = DisplayPipeline(_RULES, RACE, _entrants())
    b = DisplayPipeline(_RULES, RACE, _entrants())
    assert a.feed(reads) == b.feed(reads)
    assert a.snapshot() == b.snapshot()
    # A fork goes its own way without touching the original.
    fork = a.fork()
    extra = Reads()
    for _ in range(400):
        extra("x", 0)
    fork.feed([extra("1", 500)])
    assert fork.last_read_id > a.last_read_id and fork.snapshot() != a.snapshot()


@settings(max_examples=60, deadline=None)
@given(spec=_SPEC)
def test_a_screen_applying_the_events_ends_with_the_snapshot(
    spec: list[tuple[int, int, int]],
) -> None:
    p = DisplayPipeline(_RULES, RACE, _entrants())
    recent: list[RunnerView] = []
    also: list[RunnerView] = []
    featured: tuple[RunnerView, ...] = ()

    def insert(into: list[RunnerView], at: int, view: RunnerView) -> None:
        into.insert(at, view)
        del into[: max(0, len(into) - _RULES.recent_size)]

    for e in p.feed(_race_reads(spec)):
        if isinstance(e, Featured):
            insert(recent, e.position, e.runner)
            featured = e.group
        elif isinstance(e, AlsoFinished):
            insert(recent, e.position, e.runner)
            insert(also, e.strip_position, e.runner)
        else:
            moved = {c.participant_id: c.places for c in e.changes}
            for shown_list in (recent, also):
                shown_list[:] = [
                    replace(v, places=moved[v.participant_id])
                    if v.participant_id in moved and v.places.overall is not None
                    else v
                    for v in shown_list
                ]
            featured = tuple(
                replace(v, places=moved[v.participant_id])
                if v.participant_id in moved and v.places.overall is not None
                else v
                for v in featured
            )
    snap = p.snapshot()
    assert (tuple(recent), tuple(also), featured) == (snap.recent, snap.also, snap.featured)
