"""A tenant's events, their timing sessions and their displays; every call is tenant-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import catalog, timing
from app.db.pool import Pool, connection
from app.db.timing import SessionStats
from app.domain.catalog import Display, Event
from app.domain.codes import new_display_code
from app.domain.errors import InvalidInput, NotFound

_EVENT_NOT_FOUND = "There is no such event."


@dataclass(frozen=True, slots=True)
class EventOverview:
    event: Event
    participants: int
    sessions: list[SessionStats]
    displays: list[Display]


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


async def list_events(pool: Pool, tenant_id: int) -> list[Event]:
    async with connection(pool) as conn:
        return await catalog.list_events(conn, tenant_id)


async def create_event(
    pool: Pool,
    tenant_id: int,
    *,
    name: str,
    event_date: str = "",
    time_zone: str = "UTC",
    ct_event_id: str = "",
) -> Event:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the event a name.")
    if len(name) > 200:
        raise InvalidInput("Keep the event name under 200 characters.")
    when = _date(event_date)
    zone = _zone(time_zone)
    async with connection(pool) as conn:
        return await catalog.create_event(
            conn,
            tenant_id=tenant_id,
            name=name,
            event_date=when,
            time_zone=zone,
            ct_event_id=ct_event_id.strip() or None,
        )


def _found(event: Event | None) -> Event:
    # A foreign event looks exactly like a missing one: 404, never another tenant's data.
    if event is None:
        raise NotFound(_EVENT_NOT_FOUND)
    return event


async def event_overview(pool: Pool, tenant_id: int, event_id: int) -> EventOverview:
    async with connection(pool) as conn:
        event = _found(await catalog.get_event(conn, tenant_id, event_id))
        return EventOverview(
            event=event,
            participants=await catalog.count_participants(conn, tenant_id, event_id),
            sessions=await timing.session_stats_for_event(conn, tenant_id, event_id),
            displays=await catalog.list_displays(conn, tenant_id, event_id),
        )


async def session_stats(pool: Pool, tenant_id: int, event_id: int) -> list[SessionStats]:
    async with connection(pool) as conn:
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
    async with connection(pool) as conn:
        _found(await catalog.get_event(conn, tenant_id, event_id))
        return await catalog.create_display(
            conn,
            tenant_id=tenant_id,
            event_id=event_id,
            code=new_display_code(),
            name=name,
            locations=parse_locations(locations),
        )
