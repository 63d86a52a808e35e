"""A tenant's events, their timing sessions and their displays; every call is tenant-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import audit, catalog, timing
from app.db import timing_sessions as sessions_db
from app.db.pool import Connection, Pool, tenant_connection
from app.db.timing import SessionStats
from app.domain.catalog import LOCATION_KINDS, Display, Event, EventLocation
from app.domain.codes import new_display_code, new_provider_key
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.reads import TAG_MODES

_EVENT_NOT_FOUND = "There is no such event."


_ARCHIVED = "This event is archived and read-only; restore it first."
_MAX_LOCATIONS = 50
_KEY_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class EventOverview:
    event: Event
    participants: int
    sessions: list[SessionStats]
    displays: list[Display]
    locations: list[EventLocation]
    # The tenant's sessions that feed no event, which this page can attach.
    detached: list[SessionStats]


def parse_event_locations(names: Sequence[str], kinds: Sequence[str]) -> list[EventLocation]:
    """Form rows (name, kind) → locations in order; blank names are skipped."""
    out: list[EventLocation] = []
    seen: set[str] = set()
    for i, raw in enumerate(names):
        name = raw.strip()
        if not name:
            continue
        kind = kinds[i].strip() if i < len(kinds) else ""
        if kind not in LOCATION_KINDS:
            raise InvalidInput(
                f"Pick a kind for location {name!r}: start, split, announcer or finish."
            )
        if len(name) > 100:
            raise InvalidInput("Keep location names under 100 characters.")
        if "~" in name:
            raise InvalidInput(
                "A location name cannot contain ~ (ChronoTrack uses it between fields)."
            )
        if name.casefold() in seen:
            raise InvalidInput(f"Location {name!r} is listed twice.")
        seen.add(name.casefold())
        out.append(EventLocation(name, kind, len(out)))
    if len(out) > _MAX_LOCATIONS:
        raise InvalidInput(f"An event has at most {_MAX_LOCATIONS} locations.")
    return out


def _event_fields(name: str, event_date: str, time_zone: str) -> tuple[str, date | None, str]:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the event a name.")
    if len(name) > 200:
        raise InvalidInput("Keep the event name under 200 characters.")
    return name, _date(event_date), _zone(time_zone)


_MAX_MIN_FINISH_MINUTES = 24 * 60


def parse_min_finish(text: str) -> int:
    """Minutes typed in the event form → seconds; empty is 0 (every finish read counts)."""
    text = text.strip()
    if not text:
        return 0
    try:
        minutes = float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number of minutes.") from None
    if not 0 <= minutes <= _MAX_MIN_FINISH_MINUTES:
        raise InvalidInput("Finish reads can be ignored for 0 to 1440 minutes after the gun.")
    return round(minutes * 60)


def _zone(name: str) -> str:
    name = name.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{name!r} is not a time zone; use a name like Europe/Oslo.") from exc
    return name


def _date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a date; use YYYY-MM-DD.") from exc


def parse_locations(text: str) -> list[str]:
    """'FINISH, 10K' → ['FINISH', '10K']: empty means every location."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        if name := part.strip():
            seen.setdefault(name, None)
    return list(seen)


async def list_events(pool: Pool, tenant_id: int, *, include_archived: bool = False) -> list[Event]:
    async with tenant_connection(pool, tenant_id) as conn:
        return await catalog.list_events(conn, tenant_id, include_archived=include_archived)


async def create_event(
    pool: Pool,
    tenant_id: int,
    *,
    name: str,
    event_date: str = "",
    time_zone: str = "UTC",
    ct_event_id: str = "",
    min_finish_minutes: str = "",
    locations: Sequence[EventLocation] = (),
) -> Event:
    """A new event with its own provider key (random, retried on the rare collision)."""
    name, when, zone = _event_fields(name, event_date, time_zone)
    min_finish_s = parse_min_finish(min_finish_minutes)
    for attempt in range(_KEY_ATTEMPTS):
        try:
            async with tenant_connection(pool, tenant_id) as conn:
                event = await catalog.create_event(
                    conn,
                    tenant_id=tenant_id,
                    name=name,
                    event_date=when,
                    time_zone=zone,
                    ct_event_id=ct_event_id.strip() or None,
                    provider_key=new_provider_key(),
                    min_finish_s=min_finish_s,
                )
                await catalog.replace_event_locations(conn, tenant_id, event.id, locations)
                return event
        except Conflict:
            if attempt == _KEY_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def update_event(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    *,
    name: str,
    event_date: str = "",
    time_zone: str = "UTC",
    ct_event_id: str = "",
    min_finish_minutes: str = "",
    locations: Sequence[EventLocation] = (),
) -> Event:
    name, when, zone = _event_fields(name, event_date, time_zone)
    min_finish_s = parse_min_finish(min_finish_minutes)
    async with tenant_connection(pool, tenant_id) as conn:
        event = _live(await catalog.get_event(conn, tenant_id, event_id))
        updated = await catalog.update_event(
            conn,
            tenant_id=tenant_id,
            event_id=event.id,
            name=name,
            event_date=when,
            time_zone=zone,
            ct_event_id=ct_event_id.strip() or None,
            min_finish_s=min_finish_s,
        )
        if updated is None:
            raise InvalidInput(_ARCHIVED)
        await catalog.replace_event_locations(conn, tenant_id, event.id, locations)
        return updated


async def set_archived(
    pool: Pool, tenant_id: int, event_id: int, archived: bool, *, user_id: int, ip: str = ""
) -> None:
    async with tenant_connection(pool, tenant_id) as conn:
        event = _found(await catalog.get_event(conn, tenant_id, event_id))
        await catalog.set_event_archived(conn, tenant_id, event.id, archived)
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="event.archive" if archived else "event.restore",
            detail={"event_id": event.id, "name": event.name},
            ip=ip,
        )


async def issue_provider_key(pool: Pool, tenant_id: int, event_id: int) -> str:
    """A new key for the event; the old one stops claiming new sessions at once."""
    for attempt in range(_KEY_ATTEMPTS):
        key = new_provider_key()
        try:
            async with tenant_connection(pool, tenant_id) as conn:
                event = _live(await catalog.get_event(conn, tenant_id, event_id))
                await catalog.set_event_provider_key(conn, tenant_id, event.id, key)
                return key
        except Conflict:
            if attempt == _KEY_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def count_chips(pool: Pool, tenant_id: int, event_id: int) -> int:
    """Distinct chip codes stored for the event (registered or from a chip file)."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = _found(await catalog.get_event(conn, tenant_id, event_id))
        return await catalog.count_event_chips(conn, tenant_id, event.id)


async def set_tag_mode(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    tag_mode: str,
    *,
    user_id: int | None = None,
    ip: str = "",
) -> Event:
    """How the event compares chip codes; set once: it can change only while it has no chips.

    Chips are stored normalised under the mode, so changing it afterwards would strand them.
    The event row stays locked while the chips are counted, and every chip writer reads the
    mode under a share lock (catalog.lock_event_tag_mode), so no import slips in between.
    """
    if tag_mode not in TAG_MODES:
        raise InvalidInput("Pick how chip codes are compared: " + ", or ".join(TAG_MODES) + ".")
    async with tenant_connection(pool, tenant_id) as conn:
        event = _live(await catalog.lock_event(conn, tenant_id, event_id))
        if event.tag_mode == tag_mode:
            return event
        chips = await catalog.count_event_chips(conn, tenant_id, event.id)
        if chips:
            raise InvalidInput(
                f"This event already has {chips} chip{'' if chips == 1 else 's'}; "
                "the tag mode is fixed once chips are imported."
            )
        updated = await catalog.set_event_tag_mode(conn, tenant_id, event.id, tag_mode)
        if updated is None:
            raise InvalidInput(_ARCHIVED)
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="event.tag_mode",
            detail={"event_id": event.id, "from": event.tag_mode, "to": tag_mode},
            ip=ip,
        )
        return updated


async def find_event(conn: Connection, tenant_id: int, event_id: int) -> Event:
    """The tenant's event, or NotFound (another tenant's event is as missing as a deleted one)."""
    return _found(await catalog.get_event(conn, tenant_id, event_id))


async def writable_event(conn: Connection, tenant_id: int, event_id: int) -> Event:
    """find_event, refusing an archived (read-only) event."""
    return _live(await catalog.get_event(conn, tenant_id, event_id))


def _found(event: Event | None) -> Event:
    # A foreign event looks exactly like a missing one: 404, never another tenant's data.
    if event is None:
        raise NotFound(_EVENT_NOT_FOUND)
    return event


def _live(event: Event | None) -> Event:
    return check_writable(_found(event))


def check_writable(event: Event) -> Event:
    """The event, unless it is archived (read-only)."""
    if event.archived:
        raise InvalidInput(_ARCHIVED)
    return event


async def event_locations(
    pool: Pool, tenant_id: int, event_id: int
) -> tuple[Event, list[EventLocation]]:
    async with tenant_connection(pool, tenant_id) as conn:
        event = _found(await catalog.get_event(conn, tenant_id, event_id))
        return event, await catalog.list_event_locations(conn, tenant_id, event.id)


async def event_overview(pool: Pool, tenant_id: int, event_id: int) -> EventOverview:
    async with tenant_connection(pool, tenant_id) as conn:
        event = _found(await catalog.get_event(conn, tenant_id, event_id))
        return EventOverview(
            event=event,
            participants=await catalog.count_participants(conn, tenant_id, event_id),
            sessions=await timing.session_stats_for_event(conn, tenant_id, event_id),
            displays=await catalog.list_displays(conn, tenant_id, event_id),
            locations=await catalog.list_event_locations(conn, tenant_id, event_id),
            detached=await sessions_db.detached_sessions(conn, tenant_id),
        )


async def session_stats(pool: Pool, tenant_id: int, event_id: int) -> list[SessionStats]:
    async with tenant_connection(pool, tenant_id) as conn:
        _found(await catalog.get_event(conn, tenant_id, event_id))
        return await timing.session_stats_for_event(conn, tenant_id, event_id)


async def create_display(
    pool: Pool, tenant_id: int, event_id: int, *, name: str, locations: str = ""
) -> Display:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the display a name, such as Finish line.")
    if len(name) > 100:
        raise InvalidInput("Keep the display name under 100 characters.")
    async with tenant_connection(pool, tenant_id) as conn:
        _live(await catalog.get_event(conn, tenant_id, event_id))
        return await catalog.create_display(
            conn,
            tenant_id=tenant_id,
            event_id=event_id,
            code=new_display_code(),
            name=name,
            locations=parse_locations(locations),
        )


async def set_show_unknown(
    pool: Pool, tenant_id: int, event_id: int, display_id: int, show_unknown: bool
) -> Display:
    """Whether the display shows reads of chips no participant has (by their chip code)."""
    async with tenant_connection(pool, tenant_id) as conn:
        _live(await catalog.get_event(conn, tenant_id, event_id))
        display = await catalog.set_display_show_unknown(
            conn, tenant_id, event_id, display_id, show_unknown
        )
    if display is None:
        raise NotFound("There is no such display.")
    return display
