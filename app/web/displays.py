"""Public display screens: the page, its SSE stream, a polled fragment and the current runner
as JSON; no login."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import segno
from litestar import Request, Response, Router, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from app.domain.display_pipeline import RunnerView
from app.services.live import RECENT_SIZE, Disconnected, DisplayClient, DisplayState
from app.web.dependencies import HubDep, SettingsDep
from app.web.display_access import pin_page, require_screen_access
from app.web.display_settings import public_url
from app.web.rendering import HEARTBEAT, RETRY
from app.web.template_css import layout_css

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and friends would otherwise hold the stream in a buffer.
    "X-Accel-Buffering": "no",
}


def _board(state: DisplayState) -> dict[str, Any]:
    return {
        "display": state.display,
        "snap": state.snapshot,
        "look": state.look,
        "recent_size": RECENT_SIZE,
    }


def resume_from(request: Request[Any, Any, Any], after: str | None) -> str | None:
    """Last-Event-ID (a browser reconnecting) wins over ?after= (the page's first connect)."""
    return request.headers.get("last-event-id", "").strip() or after


@get("/{code:str}")
async def display_page(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep, poll: FromQuery[bool] = False
) -> Template:
    if (pin_form := await pin_page(request, code, poll)) is not None:
        return pin_form
    state = await hub.state(code)
    context = {**_board(state), "poll": poll, "after": state.cursor}
    return Template("displays/page.html", context=context, headers={"Cache-Control": "no-store"})


async def frames(client: DisplayClient[bytes]) -> AsyncIterator[bytes]:
    try:
        yield RETRY
        while True:
            try:
                frame = await client.next()
            except Disconnected:
                return
            if frame is None:
                yield HEARTBEAT
            else:
                yield b"".join((frame, *client.ready()))
    finally:
        client.close()


@get("/{code:str}/stream", guards=[require_screen_access])
async def display_stream(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    after: FromQuery[str | None] = None,
) -> Stream:
    # Joined before the response starts, so an unknown code is still a clean 404.
    client = await hub.connect(code, resume_from(request, after))
    return Stream(frames(client), media_type="text/event-stream", headers=STREAM_HEADERS)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return etag in candidates or "*" in candidates


@get("/{code:str}/feed", guards=[require_screen_access])
async def display_feed(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep
) -> Response[Any]:
    state = await hub.state(code)
    etag = f'"{state.version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Template("displays/_board.html", context=_board(state), headers=headers)


@get("/{code:str}/look.css")
async def display_look(code: FromPath[str], hub: HubDep, v: FromQuery[str] = "") -> Response[str]:
    """The stylesheet of the template version the display shows now. The board links it with
    that version in the query, so a new version is a new URL and the current one may be cached."""
    look = (await hub.state(code)).look
    css = "" if look.layout is None else layout_css(look.layout)
    current = v == f"{look.template_id}.{look.version}"
    cache = "public, max-age=3600" if current else "no-store"
    return Response(css, media_type="text/css", headers={"Cache-Control": cache})


@get("/{code:str}/qr.svg")
async def display_qr(
    request: Request[Any, Any, Any], code: FromPath[str], hub: HubDep, settings: SettingsDep
) -> Response[bytes]:
    """A QR code of the display's spectator page, for a template's QR element: a phone that
    scans the screen follows the same live feed and can look up a runner."""
    display = await hub.display(code)
    out = io.BytesIO()
    qr = segno.make(public_url(request, settings, display.code, "s"), error="m")
    qr.save(out, kind="svg", scale=10, border=2, dark="#000", light="#fff")
    headers = {"Cache-Control": "public, max-age=300"}
    return Response(out.getvalue(), media_type="image/svg+xml", headers=headers)


def _runner_json(runner: RunnerView) -> dict[str, Any]:
    return {
        "name": runner.name,
        "bib": runner.bib,
        "known": runner.known,
        "location": runner.location,
        "time": runner.time,
        "time_basis": runner.time_basis,
        "chip_time": runner.chip_time,
        "place": runner.places.overall,
        "gender_place": runner.places.gender,
        "age_group": runner.age_group,
        "age_group_place": runner.places.age_group,
    }


@get("/{code:str}/current", guards=[require_screen_access])
async def display_current(code: FromPath[str], hub: HubDep) -> Response[dict[str, Any]]:
    """The runner (or group) on the display now, as JSON: what the predecessor's screens
    polled every second, kept for integrations and as the load test's naive baseline."""
    state = await hub.state(code)
    body = {
        "display": state.display.code,
        "event_id": state.cursor,
        "runners": [_runner_json(r) for r in state.snapshot.featured],
    }
    return Response(body, headers={"Cache-Control": "no-cache"})


router = Router(
    path="/d",
    route_handlers=[
        display_page,
        display_stream,
        display_feed,
        display_current,
        display_look,
        display_qr,
    ],
)
