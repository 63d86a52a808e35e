"""Display messages: checked text, schedules in the event's zone, queue order, what shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.errors import InvalidInput
from app.domain.messages import (
    DEFAULT_SECONDS,
    FULLSCREEN,
    MAX_BODY,
    TICKER,
    Change,
    Message,
    active_at,
    channel,
    for_display,
    local_input,
    moved,
    next_change,
    order_from_numbers,
    parse_direction,
    parse_local_time,
    parse_schedule,
    parse_text,
    reordered,
    version,
)

T0 = datetime(2026, 5, 17, 8, 0, tzinfo=UTC)
EVENT, OTHER_EVENT = 7, 8
FINISH, ANNOUNCER = 21, 22


def msg(
    id: int,
    *,
    display_id: int | None = None,
    position: int = 0,
    show_from: datetime | None = None,
    show_until: datetime | None = None,
    event_id: int = EVENT,
    body: str = "",
    style: str = TICKER,
) -> Message:
    return Message(
        id=id,
        tenant_id=1,
        event_id=event_id,
        display_id=display_id,
        body=body or f"message {id}",
        style=style,
        seconds=DEFAULT_SECONDS,
        position=position,
        show_from=show_from,
        show_until=show_until,
        created_by=None,
        created_at=T0,
        updated_at=T0,
    )


# ---- text --------------------------------------------------------------------------------


def test_text_is_one_trimmed_line_with_defaults() -> None:
    text = parse_text("  Welcome home,\r\n  runners!  ", "", "")
    assert (text.body, text.style, text.seconds) == ("Welcome home, runners!", TICKER, 8)
    assert parse_text("Go", FULLSCREEN, " 12 ").seconds == 12


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_an_empty_message_is_refused(body: str) -> None:
    with pytest.raises(InvalidInput, match="Write the message"):
        parse_text(body, TICKER, "")


def test_the_length_limit_counts_characters_not_bytes() -> None:
    assert parse_text("å" * MAX_BODY, TICKER, "").body == "å" * MAX_BODY
    with pytest.raises(InvalidInput, match="500 characters"):
        parse_text("x" * (MAX_BODY + 1), TICKER, "")


@pytest.mark.parametrize(("seconds", "ok"), [("3", True), ("120", True), ("2", False),
                                             ("121", False), ("-5", False), ("4.5", False),
                                             ("ten", False)])  # fmt: skip
def test_full_screen_time_is_3_to_120_whole_seconds(seconds: str, ok: bool) -> None:
    if ok:
        assert parse_text("Hi", FULLSCREEN, seconds).seconds == int(seconds)
    else:
        with pytest.raises(InvalidInput):
            parse_text("Hi", FULLSCREEN, seconds)


def test_an_unknown_style_is_refused() -> None:
    with pytest.raises(InvalidInput, match="ticker or full screen"):
        parse_text("Hi", "marquee", "")


def test_markup_is_kept_as_text_for_the_templates_to_escape() -> None:
    body = "<script>alert(1)</script> {{7*7}}"
    assert parse_text(body, TICKER, "").body == body


# ---- times in the event's zone ----------------------------------------------------------


def test_local_times_are_read_in_the_events_zone() -> None:
    assert parse_local_time("2026-05-17T09:30", "Europe/Oslo") == datetime(
        2026, 5, 17, 7, 30, tzinfo=UTC
    )
    assert parse_local_time("2026-01-17T09:30", "Europe/Oslo") == datetime(
        2026, 1, 17, 8, 30, tzinfo=UTC
    )
    assert parse_local_time("2026-05-17T09:30", "America/Denver") == datetime(
        2026, 5, 17, 15, 30, tzinfo=UTC
    )
    assert parse_local_time("  ", "Europe/Oslo") is None
    # A value that names its offset keeps it.
    assert parse_local_time("2026-05-17T09:30+00:00", "Europe/Oslo") == datetime(
        2026, 5, 17, 9, 30, tzinfo=UTC
    )


def test_a_time_the_clocks_skip_is_refused() -> None:
    # Europe/Oslo jumps from 02:00 to 03:00 on 29 March 2026.
    with pytest.raises(InvalidInput, match="does not exist"):
        parse_local_time("2026-03-29T02:30", "Europe/Oslo")
    assert parse_local_time("2026-03-29T03:00", "Europe/Oslo") == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_a_time_the_clocks_pass_twice_means_the_first() -> None:
    # Europe/Oslo goes back from 03:00 to 02:00 on 25 October 2026: 02:30 happens twice.
    assert parse_local_time("2026-10-25T02:30", "Europe/Oslo") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_garbage_is_not_a_time() -> None:
    with pytest.raises(InvalidInput, match="date and time"):
        parse_local_time("tomorrow at nine", "UTC")


def test_a_schedule_ends_after_it_starts() -> None:
    s = parse_schedule("2026-05-17T09:00", "2026-05-17T10:00", "Europe/Oslo")
    assert s.show_from == datetime(2026, 5, 17, 7, 0, tzinfo=UTC)
    assert s.show_until == datetime(2026, 5, 17, 8, 0, tzinfo=UTC)
    for start, end in [("2026-05-17T10:00", "2026-05-17T10:00"),
                       ("2026-05-17T10:00", "2026-05-17T09:59")]:  # fmt: skip
        with pytest.raises(InvalidInput, match="end after it starts"):
            parse_schedule(start, end, "Europe/Oslo")
    # Either side may stay open.
    assert parse_schedule("", "2026-05-17T10:00", "UTC").show_from is None
    assert parse_schedule("2026-05-17T10:00", "", "UTC").show_until is None


def test_form_values_round_trip_through_the_zone() -> None:
    for text in ("2026-10-25T01:45", "2026-10-25T02:30", "2026-03-29T03:00"):
        assert local_input(parse_local_time(text, "Europe/Oslo"), "Europe/Oslo") == text
    assert local_input(None, "Europe/Oslo") == ""


# ---- what shows when --------------------------------------------------------------------


def test_a_schedule_includes_its_start_and_excludes_its_end() -> None:
    m = msg(1, show_from=T0, show_until=T0 + timedelta(hours=1))
    assert m.state(T0 - timedelta(microseconds=1)) == "scheduled"
    assert m.state(T0) == "showing" and m.is_active(T0)
    assert m.is_active(T0 + timedelta(minutes=59, seconds=59))
    assert m.state(T0 + timedelta(hours=1)) == "ended"
    assert not m.is_active(T0 + timedelta(hours=1))
    assert msg(2).is_active(T0)  # no schedule: always


def test_a_display_shows_its_events_messages_and_its_own_in_position_order() -> None:
    messages = [
        msg(1, position=2),
        msg(2, display_id=FINISH, position=0),
        msg(3, display_id=ANNOUNCER, position=0),
        msg(4, position=0),
        msg(5, display_id=FINISH, position=2),
        msg(6, event_id=OTHER_EVENT, position=0),
    ]
    # On equal positions the event's message comes first.
    assert [m.id for m in for_display(messages, EVENT, FINISH)] == [4, 2, 1, 5]
    assert [m.id for m in for_display(messages, EVENT, ANNOUNCER)] == [4, 3, 1]


def test_only_messages_in_their_schedule_are_active() -> None:
    hour = timedelta(hours=1)
    messages = [
        msg(1, position=0),
        msg(2, position=1, show_from=T0 + hour),  # later
        msg(3, position=2, show_until=T0),  # just ended
        msg(4, display_id=FINISH, position=3, show_from=T0 - hour, show_until=T0 + hour),
        msg(5, display_id=ANNOUNCER, position=4),
    ]
    assert [m.id for m in active_at(messages, EVENT, FINISH, T0)] == [1, 4]
    assert [m.id for m in active_at(messages, EVENT, FINISH, T0 + hour)] == [1, 2]
    assert [m.id for m in active_at(messages, EVENT, FINISH, T0 - hour)] == [1, 3, 4]


def test_the_next_change_is_the_next_schedule_bound() -> None:
    hour = timedelta(hours=1)
    messages = [msg(1, show_from=T0 + 2 * hour), msg(2, show_until=T0 + hour), msg(3)]
    assert next_change(messages, T0) == T0 + hour
    assert next_change(messages, T0 + hour) == T0 + 2 * hour
    assert next_change(messages, T0 + 2 * hour) is None
    assert next_change([], T0) is None


def test_the_version_follows_what_a_screen_gets() -> None:
    a, b = msg(1, body="Hello"), msg(2, body="World")
    assert version([a, b]) == version([msg(1, body="Hello"), msg(2, body="World")])
    assert version([a, b]) != version([b, a])
    assert version([a, b]) != version([a, msg(2, body="World!")])
    assert version([a]) != version([a], T0)
    assert version([]) != version([a])


# ---- order ------------------------------------------------------------------------------


def test_moving_up_and_down_swaps_with_the_neighbour() -> None:
    assert moved([1, 2, 3], 3, "up") == [1, 3, 2]
    assert moved([1, 2, 3], 1, "down") == [2, 1, 3]
    # At either end nothing changes.
    assert moved([1, 2, 3], 1, "up") == [1, 2, 3]
    assert moved([1, 2, 3], 3, "down") == [1, 2, 3]
    assert moved([1], 1, "down") == [1]
    with pytest.raises(ValueError):
        moved([1, 2], 9, "up")


def test_a_direction_is_up_or_down() -> None:
    assert parse_direction(" up ") == "up" and parse_direction("down") == "down"
    with pytest.raises(InvalidInput):
        parse_direction("sideways")


def test_a_new_order_names_every_message_of_the_queue_once() -> None:
    assert reordered([1, 2, 3], [3, 1, 2]) == [3, 1, 2]
    with pytest.raises(InvalidInput, match="twice"):
        reordered([1, 2, 3], [3, 3, 1, 2])
    with pytest.raises(InvalidInput, match="every message"):
        reordered([1, 2, 3], [3, 1])
    with pytest.raises(InvalidInput, match="every message"):
        reordered([1, 2, 3], [3, 1, 2, 99])


def test_typed_places_sort_the_queue() -> None:
    assert order_from_numbers([1, 2, 3], {1: "3", 2: "1", 3: "2"}) == [2, 3, 1]
    # Equal places keep the current order; blank ones go last, in their current order.
    assert order_from_numbers([1, 2, 3, 4], {1: "2", 2: "1", 3: "1", 4: ""}) == [2, 3, 1, 4]
    assert order_from_numbers([1, 2, 3], {}) == [1, 2, 3]
    assert order_from_numbers([1, 2, 3], {3: "1.5", 1: "2"}) == [3, 1, 2]
    for junk in ("first", "nan", "inf"):
        with pytest.raises(InvalidInput, match="not a place"):
            order_from_numbers([1, 2], {1: junk})
    with pytest.raises(InvalidInput, match="not in this queue"):
        order_from_numbers([1, 2], {1: "1", 99: "2"})


# ---- notifications ----------------------------------------------------------------------


def test_a_change_travels_as_json_on_its_events_channel() -> None:
    assert channel(12) == "messages.event.12"
    change = Change(12, FINISH, "added", 5)
    assert Change.from_json(change.to_json()) == change
    assert Change.from_json(Change(12, None, "reordered").to_json()) == Change(
        12, None, "reordered"
    )
    # The event's queue concerns every display of the event; a display's only that display.
    assert Change(12, None, "removed", 5).concerns(ANNOUNCER)
    assert change.concerns(FINISH) and not change.concerns(ANNOUNCER)
