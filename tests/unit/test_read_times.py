"""Provider read times to aware datetimes: zones, epoch, and time of day across midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from collector.times import from_local_us, from_time_of_day_us, from_unix_us

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")


def tod(h: int, m: int, s: int, hundredths: int = 0) -> int:
    return ((h * 60 + m) * 60 + s) * 1_000_000 + hundredths * 10_000


def test_unix_is_utc() -> None:
    got = from_unix_us(1_620_462_257_600_000)
    assert got == datetime(2021, 5, 8, 8, 24, 17, 600_000, tzinfo=UTC)
    assert got.utcoffset() == timedelta(0)


def test_local_wall_clock_takes_the_timing_zone() -> None:
    # 2026-10-05T08:00:03.17 on the venue's clock in Oslo (summer time, UTC+2).
    wall = datetime(2026, 10, 5, 8, 0, 3, 170_000) - datetime(1970, 1, 1)
    got = from_local_us(wall // timedelta(microseconds=1), OSLO)
    assert got.tzinfo is not None
    assert got.astimezone(UTC) == datetime(2026, 10, 5, 6, 0, 3, 170_000, tzinfo=UTC)


def test_local_wall_clock_in_utc() -> None:
    wall = datetime(2021, 5, 8, 8, 0) - datetime(1970, 1, 1)
    got = from_local_us(wall // timedelta(microseconds=1), ZoneInfo("UTC"))
    assert got == datetime(2021, 5, 8, 8, 0, tzinfo=UTC)


def test_time_of_day_takes_the_receive_date() -> None:
    received = datetime(2026, 10, 5, 6, 21, 50, tzinfo=UTC)  # 08:21:50 in Oslo
    got = from_time_of_day_us(tod(8, 21, 44, 90), received, OSLO)
    assert got == datetime(2026, 10, 5, 8, 21, 44, 900_000, tzinfo=OSLO)


def test_a_read_just_before_midnight_received_just_after_is_yesterday() -> None:
    received = datetime(2026, 10, 6, 0, 0, 1, tzinfo=UTC)
    got = from_time_of_day_us(tod(23, 59, 59, 87), received, ZoneInfo("UTC"))
    assert got == datetime(2026, 10, 5, 23, 59, 59, 870_000, tzinfo=UTC)


def test_a_read_just_after_midnight_from_a_fast_clock_is_tomorrow() -> None:
    received = datetime(2026, 10, 5, 23, 59, 59, tzinfo=UTC)
    got = from_time_of_day_us(tod(0, 0, 0, 12), received, ZoneInfo("UTC"))
    assert got == datetime(2026, 10, 6, 0, 0, 0, 120_000, tzinfo=UTC)


def test_midnight_is_the_venues_midnight_not_utcs() -> None:
    # 23:59:59 in New York is 03:59:59 UTC the next day; received a second later.
    received = datetime(2026, 10, 6, 4, 0, 0, tzinfo=UTC)
    got = from_time_of_day_us(tod(23, 59, 59), received, NEW_YORK)
    assert got.astimezone(UTC) == datetime(2026, 10, 6, 3, 59, 59, tzinfo=UTC)
    assert got.date() == datetime(2026, 10, 5).date()


def test_time_of_day_on_a_dst_change_is_compared_in_real_time() -> None:
    # Oslo leaves summer time at 03:00 on 2026-10-25; 04:00 local is 03:00 UTC.
    received = datetime(2026, 10, 25, 3, 0, 5, tzinfo=UTC)
    got = from_time_of_day_us(tod(4, 0, 0), received, OSLO)
    assert got.astimezone(UTC) == datetime(2026, 10, 25, 3, 0, 0, tzinfo=UTC)


def test_received_time_in_another_zone_gives_the_same_answer() -> None:
    received = datetime(2026, 10, 6, 0, 0, 1, tzinfo=UTC)
    a = from_time_of_day_us(tod(23, 59, 59), received, OSLO)
    b = from_time_of_day_us(tod(23, 59, 59), received.astimezone(OSLO), OSLO)
    assert a == b


def test_time_of_day_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        from_time_of_day_us(tod(24, 0, 0), datetime.now(UTC), OSLO)
