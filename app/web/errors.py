"""The one place where errors become responses: a page, an htmx fragment, a redirect, or JSON
for the API under /api."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from app.domain.errors import (
    AppError,
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
)
from app.domain.upload_files import MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

API_PREFIX = "/api"

_TITLES = {
    HTTP_400_BAD_REQUEST: "That did not work",
    HTTP_401_UNAUTHORIZED: "Please sign in",
    HTTP_403_FORBIDDEN: "Not allowed",
    HTTP_404_NOT_FOUND: "Not found",
    HTTP_409_CONFLICT: "Already exists",
    HTTP_410_GONE: "This link no longer works",
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: "Too large",
    HTTP_500_INTERNAL_SERVER_ERROR: "Something went wrong",
    HTTP_503_SERVICE_UNAVAILABLE: "Temporarily unavailable",
}
_STATUS: list[tuple[type[AppError], int]] = [
    (NotFound, HTTP_404_NOT_FOUND),
    (Forbidden, HTTP_403_FORBIDDEN),
    (Gone, HTTP_410_GONE),
    (InvalidInput, HTTP_400_BAD_REQUEST),
    (Conflict, HTTP_409_CONFLICT),
    (Unavailable, HTTP_503_SERVICE_UNAVAILABLE),
]


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def is_api(request: Request[Any, Any, Any]) -> bool:
    """A request to the JSON API: its clients get JSON errors, never a page or a redirect."""
    path = request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _error(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    """The error page, or for htmx requests a fragment the page swaps in where it asked, or
    for the API a JSON body (app.web.api_models.ApiError)."""
    headers = {"Retry-After": "5"} if status == HTTP_503_SERVICE_UNAVAILABLE else {}
    if is_api(request):
        body = {
            "status": status,
            "error": _TITLES.get(status, "Something went wrong"),
            "detail": message,
        }
        return Response(
            body,
            status_code=status,
            media_type=MediaType.JSON,
            headers={**headers, "Cache-Control": "no-store"},
        )
    context = {
        "status": status,
        "title": _TITLES.get(status, "Something went wrong"),
        "message": message,
        # Public display screens get the dark, full-screen look even for errors.
        "screen": request.url.path.startswith("/d/"),
    }
    template = "errors/_error.html" if is_htmx(request) else "errors/error.html"
    return Template(template, context=context, status_code=status, headers=headers)


def _sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    if is_api(request):
        return _error(
            request, HTTP_401_UNAUTHORIZED, "Sign in first: the API takes the session cookie."
        )
    if is_htmx(request):
        # A redirect inside an htmx swap would paint the login page into a fragment.
        return Response(b"", status_code=HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": "/login"})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/login?next={quote(target, safe='/')}", status_code=303)


def app_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, Unauthorized):
        return _sign_in(request)
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            if status == HTTP_503_SERVICE_UNAVAILABLE:
                # The driver's own error says which outage it was (kept for the operator).
                cause = exc.__cause__
                log.warning("%s %s: %s (%r)", request.method, request.url.path, exc, cause)
            return _error(request, status, str(exc))
    return internal_error(request, exc)


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = exc.status_code if isinstance(exc, HTTPException) else HTTP_500_INTERNAL_SERVER_ERROR
    if isinstance(exc, PermissionDeniedException) and "CSRF" in exc.detail:
        message = "This form has expired. Reload the page and try again."
        if is_api(request):
            message = "Send the CSRF token (the rd_csrf cookie's value) in the X-CSRFToken header."
    elif isinstance(exc, ValidationException):
        message = "Some fields of the form were missing or malformed."
        if is_api(request):
            message = "The request's parameters or JSON body were missing or malformed."
    elif status == HTTP_404_NOT_FOUND:
        message = "There is no page at this address."
        if is_api(request):
            message = "The API has nothing at this address."
    elif status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = f"That upload is too large: the limit is {_upload_limit(request) // 2**20} MB."
    elif status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return internal_error(request, exc)
    else:
        message = _TITLES.get(status, "The request could not be handled.")
    return _error(request, status, message)


def _upload_limit(request: Request[Any, Any, Any]) -> int:
    """The file size the route takes: its handler's opt["upload_limit"], else a participant
    file's. The body was refused unread, so only the route knows what it was for."""
    handler = request.scope.get("route_handler")
    limit = handler.opt.get("upload_limit") if handler is not None else None
    return limit if isinstance(limit, int) else MAX_UPLOAD_BYTES


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Logged in full here; the visitor never sees a stack trace.
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "The server could not finish this request. It has been logged; try again.",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AppError: app_error,
    HTTPException: http_error,
    Exception: internal_error,
}
