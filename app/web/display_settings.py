"""A display's settings page: its settings, its public address (copy button, QR code), a new
code, revocation."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import segno
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST
from markupsafe import Markup

from app.domain.catalog import User
from app.domain.display_settings import (
    DUPLICATE_WINDOW_S,
    DWELL_S,
    MAX_PER_SECOND,
    NAME_MAX,
    PIN_DIGITS,
    REORDER_WINDOW_S,
    TRANSITIONS,
    SettingsErrors,
    SettingsForm,
    form_of,
)
from app.domain.errors import InvalidInput
from app.services import displays as service
from app.services.displays import DisplayPage
from app.settings import Settings
from app.web.auth import client_ip
from app.web.dependencies import USER, HubDep, PoolDep, SettingsDep, UserDep, tenant_of

_BASE = "/{event_id:int}/displays/{display_id:int}"
# Messages after a redirect, by a fixed key: nothing from the query string reaches the page.
_DONE = {
    "saved": "Saved. Open screens of this display switch to the new settings now.",
    "rotated": "A new code is issued: the old address no longer works. Open the new one on "
    "every screen of this display.",
    "template": "Template chosen. Open screens of this display redraw in it now.",
}
QR_FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def public_url(
    request: Request[Any, Any, Any], settings: Settings, code: str, page: str = "d"
) -> str:
    """The display's absolute address (page "d"), or its spectator page's ("s"): under the
    configured public base URL, else this request's."""
    base = settings.public_base_url or str(request.base_url)
    return f"{base.rstrip('/')}/{page}/{code}"


def qr_svg(url: str) -> Markup:
    """The address as an inline SVG QR code, drawn by segno from our own data (no user markup)."""
    qr = segno.make(url, error="m")
    return Markup(qr.svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff"))


def _page(
    request: Request[Any, Any, Any],
    settings: Settings,
    user: User,
    page: DisplayPage,
    form: SettingsForm,
    *,
    errors: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Template:
    url = public_url(request, settings, page.display.code)
    context = {
        "user": user,
        "event": page.event,
        "display": page.display,
        "choices": page.choices,
        "event_locations": {loc.name for loc in page.locations},
        "code_issued_at": page.code_issued_at,
        "form": form,
        "errors": errors or {},
        "done": _DONE.get(done, ""),
        "url": url,
        "qr": qr_svg(url),
        "transitions": TRANSITIONS,
        "bounds": {
            "dwell": DWELL_S,
            "duplicate": DUPLICATE_WINDOW_S,
            "reorder": REORDER_WINDOW_S,
            "per_second": MAX_PER_SECOND,
            "pin": PIN_DIGITS,
            "name": NAME_MAX,
        },
    }
    return Template(
        "display_settings/page.html",
        context=context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


async def _settings_form(request: Request[Any, Any, Any]) -> SettingsForm:
    form = await request.form()

    def text(name: str) -> str:
        return str(form.get(name) or "")

    return SettingsForm(
        name=text("name"),
        locations=tuple(str(v) for v in form.getall("locations", [])),
        display_duration=text("display_duration"),
        transition=text("transition"),
        duplicate_window=text("duplicate_window"),
        reorder_window=text("reorder_window"),
        max_per_second=text("max_per_second"),
        # Checkboxes: sent when ticked, absent when not.
        group_runners="group_runners" in form,
        vips_first="vips_first" in form,
        show_repeats="show_repeats" in form,
        show_unknown=text("show_unknown"),
        pin=text("pin"),
        clear_pin="clear_pin" in form,
    )


def _settings_path(event_id: int, display_id: int) -> str:
    return f"/events/{event_id}/displays/{display_id}"


@get(_BASE)
async def settings_page(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    done: FromQuery[str] = "",
) -> Template:
    page = await service.display_page(pool, tenant_of(user), event_id, display_id)
    return _page(request, settings, user, page, form_of(page.display), done=done)


@post(_BASE)
async def save_settings(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
    settings: SettingsDep,
) -> Response[Any]:
    tenant_id = tenant_of(user)
    form = await _settings_form(request)
    try:
        display = await service.update_settings(
            pool, tenant_id, event_id, display_id, form, user_id=user.id, ip=client_ip(request)
        )
    except SettingsErrors as exc:
        page = await service.display_page(pool, tenant_id, event_id, display_id)
        # The submitted values stay in the form, the PIN aside: it is never echoed back.
        kept = replace(form, pin="")
        return _page(
            request,
            settings,
            user,
            page,
            kept,
            errors=exc.errors,
            status_code=HTTP_400_BAD_REQUEST,
        )
    # Open screens of this display restart on the new settings at once, in every app
    # process: a new PIN locks out, there too, the screens that do not know it.
    await hub.announce(event_id, [display.id])
    return Redirect(f"{_settings_path(event_id, display.id)}?done=saved", status_code=303)


@post(f"{_BASE}/rotate")
async def rotate_code(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
) -> Redirect:
    display = await service.rotate_code(
        pool, tenant_of(user), event_id, display_id, user_id=user.id, ip=client_ip(request)
    )
    # The old code's screens are cut off now, in every app process (and its lookup dropped).
    await hub.announce(event_id, [display.id])
    return Redirect(f"{_settings_path(event_id, display.id)}?done=rotated", status_code=303)


@get(f"{_BASE}/revoke")
async def revoke_page(
    event_id: FromPath[int], display_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    page = await service.display_page(pool, tenant_of(user), event_id, display_id)
    context = {"user": user, "event": page.event, "display": page.display}
    return Template("display_settings/revoke.html", context=context)


@post(f"{_BASE}/revoke")
async def revoke_display(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
) -> Redirect:
    form = await request.form()
    tenant_id = tenant_of(user)
    if form.get("confirm") != "revoke":
        # Only the confirmation page's form says so: anything else goes there first (after
        # the same scoping, so a foreign id is still a 404).
        await service.get_display(pool, tenant_id, event_id, display_id)
        return Redirect(f"{_settings_path(event_id, display_id)}/revoke", status_code=303)
    display = await service.revoke(
        pool, tenant_id, event_id, display_id, user_id=user.id, ip=client_ip(request)
    )
    await hub.announce(event_id, [display.id])
    return Redirect(f"/events/{event_id}", status_code=303)


@get(f"{_BASE}/qr")
async def qr_download(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    format: FromQuery[str] = "svg",
) -> Response[bytes]:
    """The QR code as a file to print: SVG (any size) or PNG."""
    if format not in QR_FORMATS:
        raise InvalidInput("The QR code comes as svg or png.")
    display = await service.get_display(pool, tenant_of(user), event_id, display_id)
    qr = segno.make(public_url(request, settings, display.code), error="m")
    out = io.BytesIO()
    if format == "svg":
        qr.save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff")
    else:
        qr.save(out, kind="png", scale=10, border=4, dark="#000", light="#fff")
    return Response(
        out.getvalue(),
        media_type=QR_FORMATS[format],
        headers={
            "Content-Disposition": f'attachment; filename="display-{display.code}-qr.{format}"',
            "Cache-Control": "no-store",
        },
    )


router = Router(
    path="/events",
    route_handlers=[
        settings_page,
        save_settings,
        rotate_code,
        revoke_page,
        revoke_display,
        qr_download,
    ],
    dependencies=USER,
)
