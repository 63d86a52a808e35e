"""Provider read times (wall clock without a zone, time of day, or epoch) to aware datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_DAY_US = 86_400_000_000


def from_unix_us(time_us: int) -> datetime:
    """Microseconds since the UTC epoch."""
    return _EPOCH + timedelta(microseconds=time_us)


def from_local_us(time_us: int, zone: tzinfo) -> datetime:
    """Microseconds since 1970-01-01T00:00 of the timing setup's wall clock in `zone`."""
    return (_NAIVE_EPOCH + timedelta(microseconds=time_us)).replace(tzinfo=zone)


def from_time_of_day_us(time_us: int, received_at: datetime, zone: tzinfo) -> datetime:
    """A time of day on whichever date puts it closest to when we received it.

    CTP01's `normal` format carries no date, so a read stamped 23:59:59 that arrives at
    00:00:01 belongs to the day before, and one stamped 00:00:01 that arrives (from a
    slightly fast clock) at 23:59:59 to the day after.
    """
    if not 0 <= time_us < _DAY_US:
        raise ValueError(f"time of day out of range: {time_us} µs")
    # Compared in UTC: Python subtracts datetimes sharing a tzinfo as naive wall clocks,
    # which would be an hour off across a DST change.
    received = received_at.astimezone(UTC)
    local_day = received.astimezone(zone).date()
    offset = timedelta(microseconds=time_us)
    candidates = [_wall(local_day + timedelta(days=d), offset, zone) for d in (0, -1, 1)]
    return min(candidates, key=lambda c: abs(c.astimezone(UTC) - received))


def _wall(day: date, offset: timedelta, zone: tzinfo) -> datetime:
    return (datetime(day.year, day.month, day.day) + offset).replace(tzinfo=zone)
