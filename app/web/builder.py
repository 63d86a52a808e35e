"""The template builder: the template list, the designer (a live preview on a sample runner,
an inspector per element, dragging), versions with revert, and a template on a display."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from app.domain.catalog import User
from app.domain.display_pipeline import NO_PLACES, Places, RunnerView, Snapshot
from app.domain.errors import InvalidInput
from app.domain.templates import (
    ALIGNS,
    FIELDS,
    FONTS,
    KINDS,
    SIZES,
    VISIBILITY,
    WEIGHTS,
    Layout,
    placeholders,
)
from app.services import images as image_service
from app.services import templates as service
from app.services.live import DisplayHub, Look
from app.web.dependencies import USER, HubDep, PoolDep, UserDep, tenant_of
from app.web.events import see_other
from app.web.template_css import layout_css

_SAMPLE_AT = datetime(2026, 5, 17, 8, 42, 13, tzinfo=UTC)


def sample_runner(n: int = 0, vip: bool = True) -> RunnerView:
    """A made-up runner for the preview: long enough a name to show what fits."""
    names = [
        ("Marit", "Bjørgen-Halvorsen", "Tromsø", "Nordlys Løpeklubb"),
        ("Omar", "Khan", "Bergen", ""),
        ("Ann", "Lee", "Oslo", "Fjord Runners"),
        ("Jonas", "Berg", "Drammen", ""),
    ]
    first, last, city, team = names[n % len(names)]
    return RunnerView(
        read_id=n + 1,
        participant_id=n + 1,
        name=f"{first} {last}",
        bib=str(1187 + n * 13),
        known=True,
        vip=vip and n == 0,
        gender="F" if n % 2 == 0 else "M",
        age_group="F35-39" if n % 2 == 0 else "M40-44",
        sub_event="Half marathon",
        city=city,
        team=team,
        location="FINISH",
        read_at=_SAMPLE_AT,
        time=f"1:{32 + n:02d}:{17 + 7 * n % 60:02d}",
        time_basis="gun",
        gun_time=f"1:{32 + n:02d}:{17 + 7 * n % 60:02d}",
        chip_time=f"1:{31 + n:02d}:{58 + n % 2:02d}",
        pace="4:22/km",
        places=Places(overall=3 + n, gender=1 + n, age_group=1) if n < 3 else NO_PLACES,
        first_name=first,
        last_name=last,
        custom=(("birthday", "Today!"), ("shirt", "M")),
    )


def _sample_snapshot() -> Snapshot:
    recent = tuple(sample_runner(n, vip=False) for n in range(3, 0, -1))
    return Snapshot(
        featured=(sample_runner(0),),
        recent=(*recent, sample_runner(0)),
        also=(),
        last_seq=3,
        last_read_id=4,
        gun_at=_SAMPLE_AT.replace(hour=7, minute=10, second=0),
    )


def _draft_version(layout: Layout) -> str:
    """Names the draft's stylesheet, so an edit is a new URL the preview fetches."""
    return hashlib.blake2s(layout_css(layout).encode(), digest_size=6).hexdigest()


async def _builder_context(
    pool: Any,
    user: User,
    template_id: int,
    selected: str = "",
    error: str = "",
    *,
    hub: DisplayHub[bytes],
    source: str = "",
) -> dict[str, Any]:
    template = await service.get_template(pool, user, template_id)
    sources = await service.preview_sources(pool, user)
    snap = _sample_snapshot()
    # A race of one of the tenant's own displays (live or replayed), else the sample runner.
    if source in {code for code, _, _ in sources}:
        snap = (await hub.state(source, plain=True)).snapshot
    else:
        source = ""
    layout = template.draft
    # The tenant's image library, for the image and background pickers (listing only).
    images = (await image_service.library(pool, tenant_of(user), quota_bytes=1)).images
    if not layout.element(selected):
        selected = ""
    return {
        "user": user,
        "t": template,
        "layout": layout,
        "selected": layout.element(selected) if selected else None,
        "versions": await service.versions(pool, user, template_id),
        "css_url": f"/templates/{template.id}/draft.css?v={_draft_version(layout)}",
        "error": error,
        # The preview draws the same board a screen draws (no live display behind it).
        "display": _PreviewDisplay(),
        "look": Look(layout, template.id, 0),
        "snap": snap,
        "sources": sources,
        "source": source,
        "kinds": KINDS,
        "fields": FIELDS,
        "fonts": FONTS,
        "weights": WEIGHTS,
        "aligns": ALIGNS,
        "visibility": VISIBILITY,
        "placeholders": placeholders(),
        "images": images,
    }


class _PreviewDisplay:
    """What the board templates read of a display, for the preview (no live display)."""

    code = ""
    name = "Preview"


async def _builder(
    request: Request[Any, Any, Any],
    pool: Any,
    user: User,
    template_id: int,
    selected: str = "",
    error: str = "",
) -> Template:
    # The preview's race: ?preview=<display code> on the page, or the form's own field.
    source = request.query_params.get("preview", "")
    if request.method == "POST":
        source = str((await request.form()).get("preview", source))
    hub = request.app.state.hub
    context = await _builder_context(
        pool, user, template_id, selected, error, hub=hub, source=source
    )
    fragment = request.headers.get("hx-request") == "true"
    name = "builder/_designer.html" if fragment else "builder/designer.html"
    return Template(name, context=context, status_code=200)


@get("/")
async def templates_page(user: UserDep, pool: PoolDep) -> Template:
    templates = await service.list_templates(pool, user)
    context = {"user": user, "templates": templates, "sizes": SIZES}
    return Template("builder/list.html", context=context)


@post("/")
async def create_template(request: Request[Any, Any, Any], user: UserDep, pool: PoolDep) -> Any:
    form = await request.form()
    try:
        template_id = await service.create_template(
            pool,
            user,
            str(form.get("name", "")),
            str(form.get("size", "landscape")),
            str(form.get("width", "")),
            str(form.get("height", "")),
        )
    except InvalidInput as exc:
        templates = await service.list_templates(pool, user)
        context = {
            "user": user,
            "templates": templates,
            "sizes": SIZES,
            "error": str(exc),
            "form": dict(form),
        }
        return Template("builder/list.html", context=context, status_code=400)
    return see_other(request, f"/templates/{template_id}")


@get("/{template_id:int}")
async def designer(
    request: Request[Any, Any, Any],
    template_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    element: FromQuery[str] = "",
) -> Template:
    return await _builder(request, pool, user, template_id, element)


@get("/{template_id:int}/draft.css")
async def draft_css(template_id: FromPath[int], user: UserDep, pool: PoolDep) -> Response[str]:
    template = await service.get_template(pool, user, template_id)
    css = layout_css(template.draft, ".builder-preview .tpl-canvas")
    return Response(css, media_type="text/css", headers={"Cache-Control": "private, max-age=600"})


@post("/{template_id:int}/elements")
async def add_element(
    request: Request[Any, Any, Any], template_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    form = await request.form()
    try:
        element = await service.add_element(pool, user, template_id, str(form.get("kind", "")))
    except InvalidInput as exc:
        return await _builder(request, pool, user, template_id, error=str(exc))
    return await _builder(request, pool, user, template_id, element.id)


@post("/{template_id:int}/elements/{element_id:str}")
async def update_element(
    request: Request[Any, Any, Any],
    template_id: FromPath[int],
    element_id: FromPath[str],
    user: UserDep,
    pool: PoolDep,
) -> Template:
    form = {k: v for k, v in (await request.form()).items() if k != "_csrf_token"}
    if str(form.get("field", "")).startswith("custom:"):
        form["field"] = "custom:" + str(form.get("custom_field", "")).strip()
    try:
        await service.update_element(pool, user, template_id, element_id, form)
    except InvalidInput as exc:
        return await _builder(request, pool, user, template_id, element_id, str(exc))
    return await _builder(request, pool, user, template_id, element_id)


@post("/{template_id:int}/elements/{element_id:str}/delete")
async def delete_element(
    request: Request[Any, Any, Any],
    template_id: FromPath[int],
    element_id: FromPath[str],
    user: UserDep,
    pool: PoolDep,
) -> Template:
    await service.remove_element(pool, user, template_id, element_id)
    return await _builder(request, pool, user, template_id)


@post("/{template_id:int}/canvas")
async def update_canvas(
    request: Request[Any, Any, Any], template_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    form = {k: v for k, v in (await request.form()).items() if k != "_csrf_token"}
    try:
        await service.update_canvas(pool, user, template_id, form)
    except InvalidInput as exc:
        return await _builder(request, pool, user, template_id, error=str(exc))
    return await _builder(request, pool, user, template_id)


@post("/{template_id:int}/delete")
async def delete_template(
    request: Request[Any, Any, Any], template_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Any:
    try:
        await service.delete_template(pool, user, template_id)
    except InvalidInput as exc:
        return await _builder(request, pool, user, template_id, error=str(exc))
    return see_other(request, "/templates/")


@post("/{template_id:int}/rename")
async def rename(
    request: Request[Any, Any, Any], template_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    form = await request.form()
    try:
        await service.rename(pool, user, template_id, str(form.get("name", "")))
    except InvalidInput as exc:
        return await _builder(request, pool, user, template_id, error=str(exc))
    return await _builder(request, pool, user, template_id)


@post("/{template_id:int}/save")
async def save(
    request: Request[Any, Any, Any],
    template_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
) -> Template:
    form = await request.form()
    saved = await service.save(pool, user, template_id, str(form.get("note", "")))
    await _redraw(hub, saved)
    return await _builder(request, pool, user, template_id)


@post("/{template_id:int}/versions/{version:int}/revert")
async def revert(
    request: Request[Any, Any, Any],
    template_id: FromPath[int],
    version: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
) -> Template:
    saved = await service.revert(pool, user, template_id, version)
    await _redraw(hub, saved)
    return await _builder(request, pool, user, template_id)


async def _redraw(hub: Any, saved: service.Saved) -> None:
    """Every app process restarts the feeds of the displays following the template: their
    screens reconnect and get the board in the new version."""
    by_event: dict[int, list[int]] = {}
    for event_id, display_id in saved.displays:
        by_event.setdefault(event_id, []).append(display_id)
    for event_id, display_ids in by_event.items():
        await hub.announce(event_id, display_ids)


@get("/events/{event_id:int}/displays/{display_id:int}/template")
async def display_template_picker(
    event_id: FromPath[int], display_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    """The template part of a display's settings page (loaded into it by htmx)."""
    choice = await service.display_choice(pool, user, event_id, display_id)
    context = {"choice": choice, "event_id": event_id, "display_id": display_id}
    return Template("builder/_display_template.html", context=context)


@post("/events/{event_id:int}/displays/{display_id:int}/template")
async def use_on_display(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    display_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    hub: HubDep,
) -> Response[Any]:
    """Choose a display's template: "" for the built-in board, "<id>" to follow the latest
    version, "<id>@<n>" to pin version n."""
    form = await request.form()
    choice = str(form.get("template", "")).strip()
    template_id: int | None = None
    version: int | None = None
    if choice:
        head, _, pin = choice.partition("@")
        if not head.isdigit() or (pin and not pin.isdigit()):
            raise InvalidInput("Choose a template.")
        template_id, version = int(head), int(pin) if pin else None
    await service.use_on_display(pool, user, event_id, display_id, template_id, version)
    await hub.announce(event_id, [display_id])
    return see_other(request, f"/events/{event_id}/displays/{display_id}?done=template")


router = Router(
    path="/templates",
    route_handlers=[
        templates_page,
        create_template,
        designer,
        draft_css,
        add_element,
        update_element,
        delete_element,
        update_canvas,
        delete_template,
        rename,
        save,
        revert,
    ],
    dependencies=USER,
)
# Under /events like the rest of a display's settings.
display_router = Router(
    path="/", route_handlers=[display_template_picker, use_on_display], dependencies=USER
)
