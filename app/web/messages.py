"""Message queues: the director's page for an event and its displays (htmx forms), and the
public fragment of what one display shows now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from app.domain import messages as rules
from app.domain.errors import NotFound
from app.services import messages as service
from app.services.messages import MessagesPage
from app.web.dependencies import USER, BusDep, HubDep, PoolDep, UserDep, tenant_of
from app.web.display_access import require_screen_access
from app.web.errors import is_htmx
from app.web.events import client_ip, see_other

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
# The page region a successful htmx form replaces: the add form and every queue.
_BOARD_ID = "messages-board"
# The page's "place" fields, one per message of a queue: place_<message id>.
_PLACE_PREFIX = "place_"


@dataclass
class AddForm:
    queue: str = ""
    body: str = ""
    style: str = ""
    seconds: str = ""
    show_from: str = ""
    show_until: str = ""
    filter: str = ""


@dataclass
class TextForm:
    body: str = ""
    style: str = ""
    seconds: str = ""
    filter: str = ""


@dataclass
class ScheduleForm:
    show_from: str = ""
    show_until: str = ""
    filter: str = ""


@dataclass
class MoveForm:
    direction: str = ""
    filter: str = ""


@dataclass
class PlainForm:
    filter: str = ""


def _filter(value: str | None) -> int | None:
    """The page's display filter as a form carries it back ("" or a display id)."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def _page_url(event_id: int, display_id: int | None) -> str:
    url = f"/events/{event_id}/messages"
    return url if display_id is None else f"{url}?display={display_id}"


def _context(page: MessagesPage) -> dict[str, Any]:
    zone = page.event.time_zone
    return {
        "page": page,
        "event": page.event,
        "zone": zone,
        "styles": rules.STYLES,
        "ticker": rules.TICKER,
        "fullscreen": rules.FULLSCREEN,
        "max_body": rules.MAX_BODY,
        "min_seconds": rules.MIN_SECONDS,
        "max_seconds": rules.MAX_SECONDS,
        "default_seconds": rules.DEFAULT_SECONDS,
        "filter": "" if page.shown_display is None else str(page.shown_display.id),
        "local": lambda v: rules.local_text(v, zone),
        "local_input": lambda v: rules.local_input(v, zone),
    }


async def _load(
    pool: PoolDep, tenant_id: int, event_id: int, display_id: int | None
) -> MessagesPage:
    return await service.messages_page(pool, tenant_id, event_id, display_id, now=datetime.now(UTC))


async def _done(
    request: Request[Any, Any, Any],
    pool: PoolDep,
    tenant_id: int,
    event_id: int,
    filter_value: str,
) -> Response[Any]:
    """After a change: htmx gets the fresh board in place of the old, a plain form a 303."""
    display_id = _filter(filter_value)
    if not is_htmx(request):
        return see_other(request, _page_url(event_id, display_id))
    try:
        page = await _load(pool, tenant_id, event_id, display_id)
    except NotFound:
        # The display the page was narrowed to went away meanwhile: show every queue.
        page = await _load(pool, tenant_id, event_id, None)
    # The forms aim their errors at their own error line; a success replaces the board.
    headers = {"HX-Retarget": f"#{_BOARD_ID}", "HX-Reswap": "outerHTML"}
    return Template("messages/_board.html", context=_context(page), headers=headers)


@get("/")
async def messages_page(
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    display: FromQuery[int | None] = None,
) -> Template:
    page = await _load(pool, tenant_of(user), event_id, display)
    return Template("messages/page.html", context={"user": user, **_context(page)})


@post("/")
async def add_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: Annotated[AddForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.add_message(
        pool,
        bus,
        tenant_id,
        event_id,
        queue=data.queue,
        body=data.body,
        style=data.style,
        seconds=data.seconds,
        show_from=data.show_from,
        show_until=data.show_until,
        user_id=user.id,
        ip=client_ip(request),
    )
    return await _done(request, pool, tenant_id, event_id, data.filter)


@post("/order")
async def set_order(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
) -> Response[Any]:
    """A queue's whole order: `order` (ids, comma-separated, as a drag would post them) or one
    place_<id> number per message (the page's fields)."""
    tenant_id = tenant_of(user)
    form = await request.form()
    queue = str(form.get("queue") or "")
    ids: list[int] | None = None
    numbers: dict[int, str] = {}
    raw_order = str(form.get("order") or "").strip()
    if raw_order:
        try:
            ids = [int(part) for part in raw_order.split(",") if part.strip()]
        except ValueError:
            ids = []
    for key in form:
        if key.startswith(_PLACE_PREFIX) and key[len(_PLACE_PREFIX) :].isdigit():
            numbers[int(key[len(_PLACE_PREFIX) :])] = str(form.get(key) or "")
    await service.set_order(
        pool,
        bus,
        tenant_id,
        event_id,
        queue=queue,
        ids=ids,
        numbers=numbers,
        user_id=user.id,
        ip=client_ip(request),
    )
    return await _done(request, pool, tenant_id, event_id, str(form.get("filter") or ""))


@post("/{message_id:int}")
async def edit_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    message_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: Annotated[TextForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.edit_message(
        pool,
        bus,
        tenant_id,
        event_id,
        message_id,
        body=data.body,
        style=data.style,
        seconds=data.seconds,
        user_id=user.id,
        ip=client_ip(request),
    )
    return await _done(request, pool, tenant_id, event_id, data.filter)


@post("/{message_id:int}/schedule")
async def schedule_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    message_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: Annotated[ScheduleForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.schedule_message(
        pool,
        bus,
        tenant_id,
        event_id,
        message_id,
        show_from=data.show_from,
        show_until=data.show_until,
        user_id=user.id,
        ip=client_ip(request),
    )
    return await _done(request, pool, tenant_id, event_id, data.filter)


@post("/{message_id:int}/move")
async def move_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    message_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: Annotated[MoveForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.move_message(
        pool,
        bus,
        tenant_id,
        event_id,
        message_id,
        data.direction,
        user_id=user.id,
        ip=client_ip(request),
    )
    return await _done(request, pool, tenant_id, event_id, data.filter)


@post("/{message_id:int}/delete")
async def remove_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    message_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: Annotated[PlainForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.remove_message(
        pool, bus, tenant_id, event_id, message_id, user_id=user.id, ip=client_ip(request)
    )
    return await _done(request, pool, tenant_id, event_id, data.filter)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return etag in candidates or "*" in candidates


@get("/{code:str}/messages", guards=[require_screen_access])
async def display_messages(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep, pool: PoolDep
) -> Response[Any]:
    """Public: the display's active messages as a fragment (a ticker line, the full-screen
    list), with an ETag so a screen asking again gets a 304 until something changes. A screen
    PIN guards it like the display's feed; an unknown or revoked code is a 404."""
    display = await hub.display(code)
    active = await service.active_messages(pool, display, datetime.now(UTC))
    etag = f'"m-{active.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    context = {"display": display, "board": active}
    return Template("displays/_messages.html", context=context, headers=headers)


router = Router(
    path="/events/{event_id:int}/messages",
    route_handlers=[
        messages_page,
        add_message,
        set_order,
        edit_message,
        schedule_message,
        move_message,
        remove_message,
    ],
    dependencies=USER,
)
public_router = Router(path="/d", route_handlers=[display_messages])
ROUTERS = [router, public_router]
