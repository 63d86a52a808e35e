"""The builder's event pages: the tenant's events, one event with its sessions and displays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from app.services import events as service
from app.web.dependencies import USER, PoolDep, SettingsDep, UserDep, tenant_of
from app.web.errors import is_htmx

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class EventForm:
    name: str = ""
    event_date: str = ""
    time_zone: str = ""
    ct_event_id: str = ""


@dataclass
class DisplayForm:
    name: str = ""
    locations: str = ""


@cache
def time_zones() -> list[str]:
    return sorted(available_timezones())


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a successful POST: a 303 for plain forms, HX-Redirect for htmx ones."""
    if is_htmx(request):
        return Response(b"", status_code=HTTP_200_OK, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


@get("/")
async def events_page(user: UserDep, pool: PoolDep, settings: SettingsDep) -> Template:
    events = await service.list_events(pool, tenant_of(user))
    context = {
        "user": user,
        "events": events,
        "zones": time_zones(),
        "default_zone": settings.timing_timezone,
    }
    return Template("events/list.html", context=context)


@post("/")
async def create_event(
    request: Request[Any, Any, Any],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[EventForm, _FORM],
) -> Response[Any]:
    event = await service.create_event(
        pool,
        tenant_of(user),
        name=data.name,
        event_date=data.event_date,
        time_zone=data.time_zone,
        ct_event_id=data.ct_event_id,
    )
    return see_other(request, f"/events/{event.id}")


@get("/{event_id:int}")
async def event_page(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    overview = await service.event_overview(pool, tenant_of(user), event_id)
    context = {"user": user, "o": overview, "base_url": settings.base_url}
    return Template("events/detail.html", context=context)


@get("/{event_id:int}/sessions")
async def event_sessions(event_id: FromPath[int], user: UserDep, pool: PoolDep) -> Template:
    sessions = await service.session_stats(pool, tenant_of(user), event_id)
    return Template("events/_sessions.html", context={"sessions": sessions})


@post("/{event_id:int}/displays")
async def create_display(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[DisplayForm, _FORM],
) -> Response[Any]:
    display = await service.create_display(
        pool, tenant_of(user), event_id, name=data.name, locations=data.locations
    )
    if is_htmx(request):
        # No #fragment here: a hash-only change would scroll instead of reloading the page.
        return see_other(request, f"/events/{event_id}")
    return see_other(request, f"/events/{event_id}#display-{display.id}")


router = Router(
    path="/events",
    route_handlers=[events_page, create_event, event_page, event_sessions, create_display],
    dependencies=USER,
)
