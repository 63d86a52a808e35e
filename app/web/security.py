"""Security headers on every response, errors and static files included."""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

# No inline script or style anywhere (htmx's indicator style is switched off in base.html),
# no eval (the display page's behaviour lives in static/js/display.js, not hx-on).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)
# Builder pages carry forms and buttons, so nobody may frame them (clickjacking).
# Display screens have nothing to click; 'self' lets our own pages preview them in a
# frame while other sites still cannot pass a tenant's live feed off as their own.
BUILDER_CSP = _CSP.format(ancestors="'none'")
DISPLAY_CSP = _CSP.format(ancestors="'self'")
_COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def content_security_policy(path: str) -> str:
    return DISPLAY_CSP if path.startswith("/d/") else BUILDER_CSP


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A before_send hook: runs for every response start, whichever handler produced it."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["content-security-policy"] = content_security_policy(scope.get("path", ""))
    for name, value in _COMMON.items():
        headers[name] = value
    # Belt and braces: uvicorn is started with server_header=False; drop any that slips in.
    if "server" in headers:
        del headers["server"]


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def cookies_secure(base_url: str) -> bool:
    """Secure cookies everywhere except plain-http development on this machine.

    A public base URL that is http:// on a real host is treated as a deployment behind
    TLS termination that was described wrongly, not as a reason to send sessions in clear.
    """
    parts = urlsplit(base_url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    return not (host in _LOOPBACK or host.startswith("127."))
