"""The spectator page a QR code on the screen opens: the display's live feed on a phone, search
by bib or name, and a runner's own card with splits. Public, like the display itself (a PIN on
the display locks this page too)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from app.services import spectator as service
from app.services.live import RECENT_SIZE
from app.web.dependencies import HubDep, PoolDep
from app.web.display_access import pin_page, require_screen_access
from app.web.displays import STREAM_HEADERS, frames, resume_from
from app.web.errors import is_htmx


@get("/{code:str}")
async def spectator_page(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep
) -> Template:
    if (pin_form := await pin_page(request, code, False)) is not None:
        return pin_form
    state = await hub.state(code, plain=True)
    context = {
        "display": state.display,
        "snap": state.snapshot,
        "look": state.look,
        "recent_size": RECENT_SIZE,
        "after": state.cursor,
    }
    return Template("spectator/page.html", context=context, headers={"Cache-Control": "no-store"})


@get("/{code:str}/stream", guards=[require_screen_access])
async def spectator_stream(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    after: FromQuery[str | None] = None,
) -> Stream:
    client = await hub.connect(code, resume_from(request, after), plain=True)
    return Stream(frames(client), media_type="text/event-stream", headers=STREAM_HEADERS)


@get("/{code:str}/search", guards=[require_screen_access])
async def search(
    code: FromPath[str], hub: HubDep, pool: PoolDep, q: FromQuery[str] = ""
) -> Template:
    found = await service.search(pool, hub, code, q)
    context = {"code": code, "found": found, "q": q.strip()}
    return Template("spectator/_found.html", context=context, headers={"Cache-Control": "no-store"})


@get("/{code:str}/runners/{participant_id:int}", guards=[require_screen_access])
async def runner_card(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    participant_id: FromPath[int],
    hub: HubDep,
    pool: PoolDep,
) -> Template:
    card = await service.runner_card(pool, hub, code, participant_id)
    display = await hub.display(code)
    context = {"code": code, "card": card, "display": display}
    name = "spectator/_runner.html" if is_htmx(request) else "spectator/runner.html"
    return Template(name, context=context, headers={"Cache-Control": "no-store"})


router = Router(path="/s", route_handlers=[spectator_page, spectator_stream, search, runner_card])
