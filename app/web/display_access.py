"""The screen PIN: a display with one shows its screens a PIN form until they hold a cookie
signed for that display and that PIN."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_429_TOO_MANY_REQUESTS

from app.domain.catalog import Display
from app.domain.display_settings import PIN_DIGITS
from app.domain.errors import Forbidden
from app.services import displays as service
from app.services.live import DisplayHub
from app.settings import Settings
from app.web.auth import client_ip
from app.web.dependencies import HubDep, PoolDep, SettingsDep
from app.web.security import cookies_secure

COOKIE_PREFIX = "rd_screen_"
# A screen is left on for a whole season; a new PIN (or clearing it) is how access ends.
COOKIE_MAX_AGE_S = 365 * 24 * 3600
LOCKED = (
    "This display is locked with a PIN. Open the display's address on this screen and enter "
    "the PIN."
)
_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@dataclass
class PinForm:
    pin: str = ""
    # "1": the screen asked for the polled version of the page.
    poll: str = ""
    # Which page of the display asked: "d" (the screen), "s" (spectator), "a" (announcer).
    page: str = "d"


# The pages a display's code opens, where a PIN form sends the screen back to.
PAGES = ("d", "s", "a")


def cookie_name(display: Display) -> str:
    return f"{COOKIE_PREFIX}{display.id}"


def _key(secret_key: str) -> bytes:
    # A key of its own, like the session and CSRF keys (app.web.factory._derive).
    return hashlib.sha256(f"racedisplay:screen-pin:{secret_key}".encode()).digest()


def screen_token(secret_key: str, display_id: int, pin_hash: str) -> str:
    """What a screen's cookie holds: signed over the display and its PIN's hash, whose salt is
    new with every PIN set, so setting a PIN (even the same digits) locks out earlier screens."""
    message = f"{display_id}:{pin_hash}".encode()
    return hmac.new(_key(secret_key), message, hashlib.sha256).hexdigest()


async def _locked(state: State, cookies: dict[str, str], display: Display) -> bool:
    """Whether this request may not see the display: it has a PIN and no valid cookie."""
    pin_hash = await service.screen_pin_hash(state.pool, display)
    if pin_hash is None:
        return False
    settings: Settings = state.settings
    token = cookies.get(cookie_name(display), "")
    expected = screen_token(settings.secret_key, display.id, pin_hash)
    return not hmac.compare_digest(token.encode(), expected.encode())


def _pin_form(
    display: Display,
    *,
    poll: bool,
    page: str = "d",
    error: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    context = {
        "display": display,
        "poll": poll,
        "page": page,
        "error": error,
        "digits": PIN_DIGITS,
    }
    return Template(
        "display_access/pin.html",
        context=context,
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def pin_page(request: Request[Any, Any, Any], code: str, poll: bool) -> Template | None:
    """The PIN form in place of the display page, or None when this screen may see it."""
    hub: DisplayHub[bytes] = request.app.state.hub
    display = await hub.display(code)
    if not await _locked(request.app.state, request.cookies, display):
        return None
    page = request.url.path.split("/")[1]
    return _pin_form(display, poll=poll, page=page if page in PAGES else "d")


async def require_screen_access(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A guard for a display's stream, feed and current runner: 403 without the PIN cookie
    (and the usual 404 for an unknown or revoked code)."""
    hub: DisplayHub[bytes] = connection.app.state.hub
    display = await hub.display(str(connection.path_params.get("code", "")))
    if await _locked(connection.app.state, connection.cookies, display):
        raise Forbidden(LOCKED)


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


@post("/{code:str}/pin")
async def enter_pin(
    request: Request[Any, Any, Any],
    code: FromPath[str],
    hub: HubDep,
    pool: PoolDep,
    settings: SettingsDep,
    data: Annotated[PinForm, _FORM],
) -> Response[Any]:
    display = await hub.display(code)
    poll = data.poll == "1"
    page = data.page if data.page in PAGES else "d"
    target = f"/{page}/{display.code}" + ("?poll=1" if poll and page == "d" else "")
    if not display.has_pin:
        return Redirect(target, status_code=303)
    result = await service.check_pin(pool, display, data.pin, client_ip(request))
    if not result.needed:
        return Redirect(target, status_code=303)
    if result.retry_after_s:
        return _pin_form(
            display,
            poll=poll,
            page=page,
            error=(
                "Too many wrong PINs for this display or from this address. "
                f"Wait {_minutes(result.retry_after_s)} and try again."
            ),
            status_code=HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(result.retry_after_s)},
        )
    if result.pin_hash is None:
        return _pin_form(
            display,
            poll=poll,
            page=page,
            error="That PIN is not right. Ask the timer for this display's PIN.",
            status_code=HTTP_401_UNAUTHORIZED,
        )
    cookie = Cookie(
        key=cookie_name(display),
        value=screen_token(settings.secret_key, display.id, result.pin_hash),
        # Every address of the display (screen, spectator and announcer pages, the API), and
        # still after a code rotation: the cookie is named and signed for this display only.
        path="/",
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        secure=cookies_secure(settings.base_url),
        samesite="lax",
    )
    return Redirect(target, status_code=303, cookies=[cookie])


router = Router(path="/d", route_handlers=[enter_pin])
