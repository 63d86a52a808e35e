"""Public display screens: the page, its SSE stream and a polled fragment; no login."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from app.services.live import RECENT_SIZE, Disconnected, DisplayClient, DisplayState
from app.web.dependencies import HubDep
from app.web.rendering import HEARTBEAT, RETRY

HEARTBEAT_S = 15.0
_STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and friends would otherwise hold the stream in a buffer.
    "X-Accel-Buffering": "no",
}


def _board(state: DisplayState) -> dict[str, Any]:
    return {"display": state.display, "snap": state.snapshot, "recent_size": RECENT_SIZE}


def _resume_from(request: Request[Any, Any, Any], after: str | None) -> str | None:
    """Last-Event-ID (a browser reconnecting) wins over ?after= (the page's first connect)."""
    return request.headers.get("last-event-id", "").strip() or after


@get("/{code:str}")
async def display_page(code: FromPath[str], hub: HubDep, poll: FromQuery[bool] = False) -> Template:
    state = await hub.state(code)
    context = {**_board(state), "poll": poll, "after": state.cursor}
    return Template("displays/page.html", context=context, headers={"Cache-Control": "no-store"})


async def _frames(client: DisplayClient[bytes]) -> AsyncIterator[bytes]:
    try:
        yield RETRY
        while True:
            try:
                frame = await client.next(HEARTBEAT_S)
            except Disconnected:
                return
            if frame is None:
                yield HEARTBEAT
            else:
                yield b"".join((frame, *client.ready()))
    finally:
        client.close()


@get("/{code:str}/stream")
async def display_stream(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    after: FromQuery[str | None] = None,
) -> Stream:
    # Joined before the response starts, so an unknown code is still a clean 404.
    client = await hub.connect(code, _resume_from(request, after))
    return Stream(_frames(client), media_type="text/event-stream", headers=_STREAM_HEADERS)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return etag in candidates or "*" in candidates


@get("/{code:str}/feed")
async def display_feed(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep
) -> Response[Any]:
    state = await hub.state(code)
    etag = f'"{state.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Template("displays/_board.html", context=_board(state), headers=headers)


router = Router(path="/d", route_handlers=[display_page, display_stream, display_feed])
