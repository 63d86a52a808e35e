"""The JSON API under /api: a display by its code (settings, current runner, messages, a JSON
stream), a signed-in tenant's templates, displays and messages, and its OpenAPI schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.response import Stream
from litestar.serialization import encode_json
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
)

from app.domain.catalog import Display
from app.domain.errors import NotFound
from app.services import displays as display_service
from app.services import messages as message_service
from app.services import templates as template_service
from app.services.live import DisplayState, Look, Shown
from app.web.api_models import (
    ActiveMessage,
    ActiveMessages,
    ApiError,
    Board,
    DisplaySettings,
    EventMessages,
    NewMessage,
    PublicDisplay,
    QueuedMessage,
    TemplateDetail,
    TemplateListItem,
    TemplateVersion,
    Version,
    board_of,
    display_settings,
    public_display,
    queued,
    stream_event,
)
from app.web.auth import client_ip
from app.web.dependencies import USER, BusDep, HubDep, PoolDep, UserDep, tenant_of
from app.web.display_access import require_screen_access
from app.web.displays import STREAM_HEADERS, frames
from app.web.rendering import sse_frame

API_VERSION = "1.0"
SCHEMA_PATH = "/api/schema"
SESSION_SCHEME = "session"
API_DESCRIPTION = """\
Live finish-line displays as JSON.

**Per display** (`/api/displays/{code}`): public by the display's 8-character code, like its
screens. A display with a screen PIN answers 403 until the request carries the screen's cookie
`rd_screen_<display id>`, which `POST /d/{code}/pin` (form field `pin`) sets; that cookie is
scoped to `/d/`, so a client sends it to the API itself. A revoked or unknown code is a 404.

The stream (`/api/displays/{code}/stream`) is Server-Sent Events carrying JSON: a `board`
event first (the shape of `/current`), then one `runner`, `also` or `places` event per display
event, with the same ids (`<epoch>.<n>`) as the display's HTML stream, and a `messages` event
when the display's messages change (fetch `/messages` again). Reconnect with `Last-Event-ID`
(or `?after=` with the `event_id` of `/current`) to get exactly the events missed; an id from
other rules or a template change gets a fresh `board` instead.

**Per tenant** (`/api/templates`, `/api/events/{event_id}/…`): signed in with the session
cookie `rd_session` of the pages (`POST /login`). Another tenant's ids answer 404. Writes also
need the CSRF token in the `X-CSRFToken` header: the value of the `rd_csrf` cookie (or the
token a page carries).

Errors are JSON: `{"status": 404, "error": "Not found", "detail": "…"}`.
"""

_NO_CACHE = CacheControlHeader(no_cache=True)
_NO_STORE = CacheControlHeader(no_store=True, private=True)
# Litestar would describe its own validation error body; every error here is an ApiError.
_MALFORMED = ResponseSpec(ApiError, description="Malformed parameters or body.")
_DISPLAY_ERRORS = {
    HTTP_400_BAD_REQUEST: _MALFORMED,
    HTTP_403_FORBIDDEN: ResponseSpec(ApiError, description="The display has a screen PIN."),
    HTTP_404_NOT_FOUND: ResponseSpec(ApiError, description="No display has this code."),
}
_TENANT_ERRORS = {
    HTTP_400_BAD_REQUEST: _MALFORMED,
    HTTP_401_UNAUTHORIZED: ResponseSpec(ApiError, description="Not signed in."),
    HTTP_404_NOT_FOUND: ResponseSpec(ApiError, description="No such id in your tenant."),
}
_WRITE_ERRORS = {
    **_TENANT_ERRORS,
    HTTP_400_BAD_REQUEST: ResponseSpec(ApiError, description="The message was refused."),
    HTTP_403_FORBIDDEN: ResponseSpec(ApiError, description="The CSRF token is missing."),
}


class JsonRenderer:
    """A `Renderer` of display events as SSE frames carrying JSON, for the API's stream: the
    same events, ids and board as the HTML renderer (app.web.rendering), another encoding."""

    def event(self, display: Display, look: Look, shown: Shown) -> bytes:
        name, body = stream_event(shown)
        return sse_frame(shown.stream_id, name, encode_json(body).decode())

    def board(self, state: DisplayState) -> bytes:
        board = board_of(state.display.code, state.cursor, state.snapshot)
        return sse_frame(state.cursor, "board", encode_json(board).decode())

    def join(self, payloads: Sequence[bytes]) -> bytes:
        return b"".join(payloads)

    def messages_changed(self) -> bytes:
        return sse_frame("", "messages", '{"changed":true}')


# --- per display, by its public code ------------------------------------------------------


@get("/{code:str}", responses=_DISPLAY_ERRORS)
async def display_info(code: FromPath[str], hub: HubDep, pool: PoolDep) -> PublicDisplay:
    """A display's name, event, timing points and rules, and the template it shows."""
    display = await hub.display(code)
    event = await display_service.event_of(pool, display)
    return public_display(display, event)


@get("/{code:str}/current", responses=_DISPLAY_ERRORS)
async def display_current(code: FromPath[str], hub: HubDep) -> Board:
    """The featured runner(s), the finish list and the strip now, with the event id to
    resume a stream from."""
    state = await hub.state(code)
    return board_of(state.display.code, state.cursor, state.snapshot)


@get("/{code:str}/messages", responses=_DISPLAY_ERRORS)
async def display_messages(code: FromPath[str], hub: HubDep, pool: PoolDep) -> ActiveMessages:
    """The messages the display shows now (its event's and its own), in order."""
    display = await hub.display(code)
    active = await message_service.active_messages(pool, display, datetime.now(UTC))
    shown = [ActiveMessage(m.id, m.body, m.style, m.seconds) for m in active.messages]
    return ActiveMessages(display.code, shown, active.version, active.next_change)


@get(
    "/{code:str}/stream",
    media_type="text/event-stream",
    responses=_DISPLAY_ERRORS,
    response_description="Server-Sent Events: board, runner, also, places and messages.",
)
async def display_stream(
    code: FromPath[str],
    hub: HubDep,
    after: FromQuery[str | None] = None,
    last_event_id: Annotated[str | None, HeaderParameter(name="last-event-id")] = None,
) -> Stream:
    """The display's live events as Server-Sent Events carrying JSON (see the API's
    description): a board, then runner, also and places events. `Last-Event-ID` (a
    reconnecting client), else `after` (an `event_id` from /current), resumes after that
    event."""
    # Joined before the response starts, so an unknown code is still a clean 404.
    client = await hub.connect(code, (last_event_id or "").strip() or after, encoding="json")
    return Stream(frames(client), media_type="text/event-stream", headers=STREAM_HEADERS)


# --- per tenant, signed in ----------------------------------------------------------------


@get("/templates", responses=_TENANT_ERRORS)
async def list_templates(user: UserDep, pool: PoolDep) -> list[TemplateListItem]:
    """The tenant's display templates."""
    rows = await template_service.list_templates(pool, user)
    return [TemplateListItem(r.id, r.name, r.latest_version, r.saved_at, r.displays) for r in rows]


@get("/templates/{template_id:int}", responses=_TENANT_ERRORS)
async def template_detail(
    template_id: FromPath[int], user: UserDep, pool: PoolDep
) -> TemplateDetail:
    """A template's latest saved layout and its versions, newest first."""
    template = await template_service.get_template(pool, user, template_id)
    rows = await template_service.versions(pool, user, template_id)
    layout = (
        await template_service.version_layout(pool, user, template_id, template.latest_version)
        if template.latest_version
        else None
    )
    versions = [Version(v.version, v.created_at, v.note, v.author) for v in rows]
    return TemplateDetail(
        template.id, template.name, template.latest_version, layout, template.unsaved, versions
    )


@get("/templates/{template_id:int}/versions/{version:int}", responses=_TENANT_ERRORS)
async def template_version(
    template_id: FromPath[int], version: FromPath[int], user: UserDep, pool: PoolDep
) -> TemplateVersion:
    """One saved version of a template, exactly as it was saved."""
    rows = await template_service.versions(pool, user, template_id)
    row = next((v for v in rows if v.version == version), None)
    if row is None:
        raise NotFound(f"Version {version} of this template does not exist.")
    layout = await template_service.version_layout(pool, user, template_id, version)
    return TemplateVersion(template_id, row.version, row.created_at, row.note, row.author, layout)


@get("/events/{event_id:int}/displays", responses=_TENANT_ERRORS)
async def event_displays(
    event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> list[DisplaySettings]:
    """The event's live displays with their codes and settings."""
    displays = await display_service.event_displays(pool, tenant_of(user), event_id)
    return [display_settings(d) for d in displays]


@get("/events/{event_id:int}/messages", responses=_TENANT_ERRORS)
async def event_messages(event_id: FromPath[int], user: UserDep, pool: PoolDep) -> EventMessages:
    """Every message queue of the event: its own, then each display's, each in order."""
    now = datetime.now(UTC)
    page = await message_service.messages_page(pool, tenant_of(user), event_id, now=now)
    messages = [queued(m, now) for queue in page.queues for m in queue.messages]
    return EventMessages(page.event.id, page.event.time_zone, messages)


@post("/events/{event_id:int}/messages", responses=_WRITE_ERRORS)
async def add_message(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    bus: BusDep,
    data: JSONBody[NewMessage],
) -> QueuedMessage:
    """A message at the end of the event's queue, or of one of its displays' queues; open
    screens show it at once."""
    message = await message_service.add_message(
        pool,
        bus,
        tenant_of(user),
        event_id,
        queue="" if data.display_id is None else str(data.display_id),
        body=data.body,
        style=data.style,
        seconds="" if data.seconds is None else str(data.seconds),
        show_from=data.show_from,
        show_until=data.show_until,
        user_id=user.id,
        ip=client_ip(request),
    )
    return queued(message, datetime.now(UTC))


async def _schema_only(request: Request[Any, Any, Any]) -> None:
    """Litestar answers any other path under the schema with an HTML page; the API's 404 is
    JSON (app.web.errors)."""
    if "path" in request.path_params:
        raise NotFoundException()


def routers() -> list[Router]:
    """The API's routers, the only routes in the OpenAPI schema."""
    return [
        Router(
            path="/api/displays",
            route_handlers=[display_info, display_current, display_messages, display_stream],
            guards=[require_screen_access],
            cache_control=_NO_CACHE,
            include_in_schema=True,
            tags=["Displays, by code"],
        ),
        Router(
            path="/api",
            route_handlers=[
                list_templates,
                template_detail,
                template_version,
                event_displays,
                event_messages,
                add_message,
            ],
            dependencies=USER,
            cache_control=_NO_STORE,
            include_in_schema=True,
            security=[{SESSION_SCHEME: []}],
            tags=["Your templates, displays and messages"],
        ),
    ]


def openapi_config() -> OpenAPIConfig:
    """The schema as JSON at /api/schema and /api/schema/openapi.json. No documentation UI:
    Litestar's pages load scripts from a CDN and run inline ones, which the CSP forbids."""
    return OpenAPIConfig(
        title="RaceDisplay API",
        version=API_VERSION,
        description=API_DESCRIPTION,
        render_plugins=[JsonRenderPlugin(path=["/openapi.json", "/"])],
        # A router of its own per app: the schema handlers are registered on it.
        openapi_router=Router(
            SCHEMA_PATH, route_handlers=[], include_in_schema=False, before_request=_schema_only
        ),
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                SESSION_SCHEME: SecurityScheme(
                    type="apiKey",
                    name="rd_session",
                    security_scheme_in="cookie",
                    description="The session cookie a sign-in (POST /login) sets.",
                )
            }
        ),
    )
