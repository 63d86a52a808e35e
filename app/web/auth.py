"""Signing in and out: the login form, its POST, and the session cookie it sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_401_UNAUTHORIZED

from app.services import auth
from app.web.dependencies import SESSION_USER, PoolDep

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
_WRONG = "Wrong e-mail or password. Check both and try again."


@dataclass
class LoginForm:
    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str) -> str:
    """Only a path on this site: an open redirect would make the login page a phishing tool."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/events"


@get("/")
async def home(request: Request[Any, Any, Any]) -> Redirect:
    signed_in = request.session.get(SESSION_USER) is not None
    return Redirect("/events" if signed_in else "/login", status_code=303)


@get("/login")
async def login_page(next: FromQuery[str] = "") -> Template:
    return Template("login.html", context={"email": "", "next": safe_next(next), "error": None})


@post("/login")
async def login(
    request: Request[Any, Any, Any], pool: PoolDep, data: Annotated[LoginForm, _FORM]
) -> Response[Any]:
    user = await auth.authenticate(pool, data.email, data.password)
    if user is None:
        # Everything typed comes back except the password.
        context = {"email": data.email, "next": safe_next(data.next), "error": _WRONG}
        return Template("login.html", context=context, status_code=HTTP_401_UNAUTHORIZED)
    request.set_session({SESSION_USER: user.id})
    return Redirect(safe_next(data.next), status_code=303)


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    request.clear_session()
    return Redirect("/login", status_code=303)


ROUTES = [home, login_page, login, logout]
