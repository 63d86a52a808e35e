"""Signing in and out: the login form, its POST (throttled), and the server-side session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_429_TOO_MANY_REQUESTS

from app.domain.accounts import landing
from app.services import login as service
from app.web.dependencies import SESSION_USER, PoolDep, start_session

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
_WRONG = "Wrong e-mail or password. Check both and try again."


def throttled_message(retry_after_s: int) -> str:
    minutes = max(1, -(-retry_after_s // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed sign-ins for this account or from this address. "
        f"Wait {minutes} {unit} and try again."
    )


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else ""


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str, default: str = "/events") -> str:
    """Only a path on this site: an open redirect would make the login page a phishing tool."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


@get("/")
async def home(request: Request[Any, Any, Any]) -> Redirect:
    signed_in = request.session.get(SESSION_USER) is not None
    return Redirect("/events" if signed_in else "/login", status_code=303)


@get("/login")
async def login_page(next: FromQuery[str] = "") -> Template:
    # No target: after sign-in the user lands where their role starts (see landing()).
    context = {"email": "", "next": safe_next(next, default=""), "error": None}
    return Template("login.html", context=context)


@post("/login")
async def login(
    request: Request[Any, Any, Any], pool: PoolDep, data: Annotated[LoginForm, _FORM]
) -> Response[Any]:
    result = await service.sign_in(pool, data.email, data.password, client_ip(request))
    if result.user is None:
        # Everything typed comes back except the password.
        context = {"email": data.email, "next": safe_next(data.next), "error": _WRONG}
        if result.retry_after_s:
            context["error"] = throttled_message(result.retry_after_s)
            return Template(
                "login.html",
                context=context,
                status_code=HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(result.retry_after_s)},
            )
        return Template("login.html", context=context, status_code=HTTP_401_UNAUTHORIZED)
    await start_session(request, pool, result.user.id)
    return Redirect(safe_next(data.next, default=landing(result.user)), status_code=303)


@post("/logout")
async def logout(request: Request[Any, Any, Any], pool: PoolDep) -> Redirect:
    await service.signed_out(pool, request.session.get(SESSION_USER), client_ip(request))
    # The server-side session is deleted: the old cookie value no longer signs anyone in.
    request.clear_session()
    return Redirect("/login", status_code=303)


ROUTES = [home, login_page, login, logout]
