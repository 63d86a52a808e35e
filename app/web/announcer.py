"""The announcer view on a tablet at the finish: who is coming next at a chosen mat, projected
arrivals, a follow list, and search. Public by a display's code like the spectator page (a PIN
on the display locks it too); signed-in users reach it from their event's page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from app.services import announcer as service
from app.services import spectator as spectator_service
from app.services.announcer import AnnouncerCache, AnnouncerView
from app.web.dependencies import USER, HubDep, PoolDep, UserDep, tenant_of
from app.web.display_access import pin_page, require_screen_access

_NO_STORE = {"Cache-Control": "no-store"}


def _cache(state: State) -> AnnouncerCache:
    """The announcer views' cache of this app (entrants, first reads), made on first use."""
    cache = state.get("announcer_cache")
    if not isinstance(cache, AnnouncerCache):
        cache = AnnouncerCache()
        state.announcer_cache = cache
    return cache


def _context(view: AnnouncerView) -> dict[str, Any]:
    return {"view": view, "display": view.display, "code": view.display.code}


@get("/{code:str}")
async def announcer_page(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    pool: PoolDep,
    mat: FromQuery[str | None] = None,
) -> Template:
    if (pin_form := await pin_page(request, code, False)) is not None:
        return pin_form
    view = await service.announcer_view(pool, hub, _cache(request.app.state), code, mat)
    assert view is not None
    return Template("announcer/page.html", context=_context(view), headers=_NO_STORE)


@get("/{code:str}/lists", guards=[require_screen_access])
async def announcer_lists(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    pool: PoolDep,
    mat: FromQuery[str | None] = None,
    follow: FromQuery[str] = "",
) -> Response[Any]:
    """The three lists, polled every few seconds: a 304 while nothing they show has changed."""
    known = request.headers.get("if-none-match", "").strip().removeprefix("W/").strip('"')
    view = await service.announcer_view(
        pool, hub, _cache(request.app.state), code, mat, service.parse_follow(follow), known
    )
    etag = f'"{known if view is None else view.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if view is None:
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Template("announcer/_lists.html", context=_context(view), headers=headers)


@get("/{code:str}/search", guards=[require_screen_access])
async def announcer_search(
    code: FromPath[str], hub: HubDep, pool: PoolDep, q: FromQuery[str] = ""
) -> Template:
    found = await spectator_service.search(pool, hub, code, q)
    context = {"code": code, "found": found, "q": q.strip()}
    return Template("announcer/_found.html", context=context, headers=_NO_STORE)


@get("/{event_id:int}/announcer")
async def event_announcer(event_id: FromPath[int], user: UserDep, pool: PoolDep) -> Redirect:
    """A signed-in director's way in: the announcer view of the event's first display."""
    display = await service.first_display(pool, tenant_of(user), event_id)
    return Redirect(f"/a/{display.code}", status_code=303)


router = Router(path="/a", route_handlers=[announcer_page, announcer_lists, announcer_search])
event_router = Router(path="/events", route_handlers=[event_announcer], dependencies=USER)
ROUTERS = [router, event_router]
