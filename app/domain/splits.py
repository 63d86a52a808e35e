"""A runner's own card: the first read at each timing point, as a spectator follows them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from app.domain.catalog import EventLocation
from app.domain.display_pipeline import format_clock, format_elapsed


@dataclass(frozen=True, slots=True)
class Split:
    location: str
    # start, split or finish (app.domain.catalog LOCATION_KINDS), "" for an unnamed point.
    kind: str
    clock: str
    # Since the gun; "" without one.
    elapsed: str


def splits(
    reads: Iterable[tuple[str, datetime]],
    locations: Sequence[EventLocation],
    gun_at: datetime | None,
    min_finish_s: float,
    zone: tzinfo,
) -> list[Split]:
    """The first read at each point, oldest first, as the displays count them: nothing before
    the gun, and at a finish nothing in the first min_finish_s after it (a course that starts
    on the finish mats)."""
    kinds = {loc.name: loc.kind for loc in locations}
    first: dict[str, datetime] = {}
    for location, at in reads:
        if location in first or (gun_at is not None and at < gun_at):
            continue
        if (
            kinds.get(location) == "finish"
            and gun_at is not None
            and at - gun_at < timedelta(seconds=min_finish_s)
        ):
            continue
        first[location] = at
    return [
        Split(
            location,
            kinds.get(location, ""),
            format_clock(at, zone),
            format_elapsed(at - gun_at) if gun_at is not None else "",
        )
        for location, at in sorted(first.items(), key=lambda item: item[1])
    ]
