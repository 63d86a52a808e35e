"""The builder's event pages: the tenant's events, one event with its sessions and displays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from app.domain.accounts import landing
from app.domain.catalog import LOCATION_KINDS, EventLocation
from app.domain.codes import KEY_SEPARATOR
from app.domain.errors import InvalidInput
from app.domain.reads import TAG_MODES
from app.services import events as service
from app.services import sessions as sessions_service
from app.web.dependencies import USER, HubDep, PoolDep, SettingsDep, UserDep, tenant_of
from app.web.errors import is_htmx

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class EventForm:
    name: str = ""
    event_date: str = ""
    time_zone: str = ""
    ct_event_id: str = ""
    min_finish_minutes: str = ""


@dataclass
class AttachForm:
    session_id: int = 0


@dataclass
class DisplayForm:
    name: str = ""
    locations: str = ""


@dataclass
class TagModeForm:
    tag_mode: str = ""


@dataclass
class UnknownChipsForm:
    # "1": show an unknown chip by its chip code; "0": hide it.
    show_unknown: str = ""


@cache
def time_zones() -> list[str]:
    return sorted(available_timezones())


def see_other(request: Request[Any, Any, Any], url: str) -> Response[Any]:
    """After a successful POST: a 303 for plain forms, HX-Redirect for htmx ones."""
    if is_htmx(request):
        return Response(b"", status_code=HTTP_200_OK, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


# Blank location rows offered under the existing ones in the event forms.
_BLANK_LOCATION_ROWS = 3


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else ""


async def _event_form(request: Request[Any, Any, Any]) -> tuple[EventForm, list[EventLocation]]:
    """The event fields and its location rows (repeated loc_name / loc_kind pairs, in order)."""
    form = await request.form()
    fields = EventForm(
        name=str(form.get("name") or ""),
        event_date=str(form.get("event_date") or ""),
        time_zone=str(form.get("time_zone") or ""),
        ct_event_id=str(form.get("ct_event_id") or ""),
        min_finish_minutes=str(form.get("min_finish_minutes") or ""),
    )
    names = [str(v) for v in form.getall("loc_name", [])]
    kinds = [str(v) for v in form.getall("loc_kind", [])]
    return fields, service.parse_event_locations(names, kinds)


def _form_context(settings: Any) -> dict[str, Any]:
    return {
        "zones": time_zones(),
        "default_zone": settings.timing_timezone,
        "kinds": LOCATION_KINDS,
        "blank_rows": _BLANK_LOCATION_ROWS,
    }


@get("/")
async def events_page(
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    archived: FromQuery[bool] = False,
) -> Template | Redirect:
    if user.tenant_id is None:
        # Platform admins have no events of their own; "/" and old links land here.
        return Redirect(landing(user), status_code=303)
    events = await service.list_events(pool, tenant_of(user), include_archived=archived)
    context = {
        "user": user,
        "events": events,
        "show_archived": archived,
        "locations": [],
        **_form_context(settings),
    }
    return Template("events/list.html", context=context)


@post("/")
async def create_event(
    request: Request[Any, Any, Any], user: UserDep, pool: PoolDep
) -> Response[Any]:
    fields, locations = await _event_form(request)
    event = await service.create_event(
        pool,
        tenant_of(user),
        name=fields.name,
        event_date=fields.event_date,
        time_zone=fields.time_zone,
        ct_event_id=fields.ct_event_id,
        min_finish_minutes=fields.min_finish_minutes,
        locations=locations,
    )
    return see_other(request, f"/events/{event.id}")


@get("/{event_id:int}")
async def event_page(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    tenant_id = tenant_of(user)
    overview = await service.event_overview(pool, tenant_id, event_id)
    connected = await sessions_service.connected_sessions(settings.status_url, tenant_id, event_id)
    context = {
        "user": user,
        "o": overview,
        "base_url": settings.base_url,
        "connected": connected,
        "kinds": LOCATION_KINDS,
        "separator": KEY_SEPARATOR,
        "provider_port": settings.collector_port,
        "tag_modes": TAG_MODES,
    }
    return Template("events/detail.html", context=context)


@get("/{event_id:int}/edit")
async def edit_page(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    tenant_id = tenant_of(user)
    event, locations = await service.event_locations(pool, tenant_id, event_id)
    context = {
        "user": user,
        "event": event,
        "locations": locations,
        "tag_modes": TAG_MODES,
        "chip_count": await service.count_chips(pool, tenant_id, event_id),
        **_form_context(settings),
    }
    return Template("events/edit.html", context=context)


@post("/{event_id:int}")
async def update_event(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    fields, locations = await _event_form(request)
    await service.update_event(
        pool,
        tenant_of(user),
        event_id,
        name=fields.name,
        event_date=fields.event_date,
        time_zone=fields.time_zone,
        ct_event_id=fields.ct_event_id,
        min_finish_minutes=fields.min_finish_minutes,
        locations=locations,
    )
    return see_other(request, f"/events/{event_id}")


@post("/{event_id:int}/tag-mode")
async def set_tag_mode(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
    data: Annotated[TagModeForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.set_tag_mode(
        pool, tenant_id, event_id, data.tag_mode, user_id=user.id, ip=client_ip(request)
    )
    # Open displays of the event start over under the new mode at once, in every process.
    await hub.announce(event_id)
    return see_other(request, f"/events/{event_id}")


@post("/{event_id:int}/archive")
async def archive_event(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.set_archived(
        pool, tenant_of(user), event_id, True, user_id=user.id, ip=client_ip(request)
    )
    return see_other(request, "/events")


@post("/{event_id:int}/restore")
async def restore_event(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.set_archived(
        pool, tenant_of(user), event_id, False, user_id=user.id, ip=client_ip(request)
    )
    return see_other(request, f"/events/{event_id}")


@post("/{event_id:int}/provider-key")
async def new_provider_key(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.issue_provider_key(pool, tenant_of(user), event_id)
    return see_other(request, f"/events/{event_id}#provider-setup")


@get("/{event_id:int}/sessions")
async def event_sessions(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    tenant_id = tenant_of(user)
    sessions = await service.session_stats(pool, tenant_id, event_id)
    connected = await sessions_service.connected_sessions(settings.status_url, tenant_id, event_id)
    return Template("events/_sessions.html", context={"sessions": sessions, "connected": connected})


@post("/{event_id:int}/sessions/attach")
async def attach_session(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[AttachForm, _FORM],
) -> Response[Any]:
    await sessions_service.move(pool, tenant_of(user), data.session_id, event_id)
    return see_other(request, f"/events/{event_id}")


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


@post("/{event_id:int}/displays/{display_id:int}/unknown-chips")
async def set_unknown_chips(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
    data: Annotated[UnknownChipsForm, _FORM],
) -> Response[Any]:
    choice = {"1": True, "0": False}.get(data.show_unknown.strip())
    if choice is None:
        raise InvalidInput("Choose whether unknown chips show their chip code or stay hidden.")
    display = await service.set_show_unknown(pool, tenant_of(user), event_id, display_id, choice)
    # Screens of this display reconnect to a feed with the new setting now, in every process.
    await hub.announce(event_id, [display.id])
    if is_htmx(request):
        return see_other(request, f"/events/{event_id}")
    return see_other(request, f"/events/{event_id}#display-{display.id}")


router = Router(
    path="/events",
    route_handlers=[
        events_page,
        create_event,
        event_page,
        edit_page,
        update_event,
        archive_event,
        restore_event,
        new_provider_key,
        event_sessions,
        attach_session,
        create_display,
        set_tag_mode,
        set_unknown_chips,
    ],
    dependencies=USER,
)
