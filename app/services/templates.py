"""The template builder: a draft edited element by element, saved as numbered versions.

Screens show saved versions only. Saving (or reverting, which saves the old layout as a new
version) returns the displays that follow the template, so the caller can tell every app
process to restart their feeds (DisplayHub.announce): open screens change without a reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.db import audit
from app.db import templates as db
from app.db.pool import Pool, tenant_connection
from app.db.templates import TemplateRow, TemplateSummary, VersionRow
from app.domain.catalog import User
from app.domain.errors import InvalidInput, NotFound
from app.domain.templates import (
    KINDS,
    MAX_ELEMENTS,
    SIZES,
    Element,
    Layout,
    new_element_id,
    parse_element,
    parse_layout,
    starter_layout,
)
from app.services import displays as displays_service
from app.services.events import find_event

_NOT_FOUND = "There is no such template."
MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    draft: Layout
    latest_version: int
    # The draft differs from the latest saved version (there is something to save).
    unsaved: bool


@dataclass(frozen=True, slots=True)
class Saved:
    version: int
    # (event_id, display_id) of the displays that follow the template.
    displays: list[tuple[int, int]]


async def _audit(conn: Any, user: User, action: str, detail: dict[str, object]) -> None:
    assert user.tenant_id is not None
    await audit.record(
        conn, tenant_id=user.tenant_id, user_id=user.id, action=action, detail=detail
    )


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput("Give the template a name, such as Finish line TV.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Keep the template name under {MAX_NAME} characters.")
    return name


def canvas_size(size: str, width: str = "", height: str = "") -> tuple[int, int]:
    """A size preset, or "custom" with the given width and height."""
    if size in SIZES:
        return SIZES[size]
    if size != "custom":
        raise InvalidInput("Choose a screen size.")
    probe = parse_layout({"width": width or "0", "height": height or "0"})
    return probe.width, probe.height


async def list_templates(pool: Pool, user: User) -> list[TemplateSummary]:
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.list_templates(conn, tenant_id)


async def create_template(
    pool: Pool, user: User, name: str, size: str, width: str = "", height: str = ""
) -> int:
    """A new template from the starter layout at the chosen size, saved as version 1."""
    tenant_id = user.own_tenant()
    name = _name(name)
    w, h = canvas_size(size, width, height)
    preset = next((k for k, v in SIZES.items() if v == (w, h)), None)
    layout = starter_layout(preset) if preset else replace(starter_layout(), width=w, height=h)
    body = layout.to_json()
    async with tenant_connection(pool, tenant_id) as conn:
        template_id = await db.create_template(conn, tenant_id, name, body)
        await db.add_version(conn, tenant_id, template_id, body, user.id, "Created")
        await _audit(conn, user, "template.created", {"template_id": template_id, "name": name})
    return template_id


async def _load(conn: Any, tenant_id: int, template_id: int) -> TemplateRow:
    row = await db.get_template(conn, tenant_id, template_id)
    if row is None:
        raise NotFound(_NOT_FOUND)
    return row


async def get_template(pool: Pool, user: User, template_id: int) -> Template:
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        row = await _load(conn, tenant_id, template_id)
        saved = await db.get_version(conn, tenant_id, template_id, row.latest_version)
    draft = parse_layout(row.draft)
    unsaved = saved is None or parse_layout(saved) != draft
    return Template(row.id, row.name, draft, row.latest_version, unsaved)


async def versions(pool: Pool, user: User, template_id: int) -> list[VersionRow]:
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        await _load(conn, tenant_id, template_id)
        return await db.list_versions(conn, tenant_id, template_id)


async def _edit_draft(pool: Pool, user: User, template_id: int, change: Any) -> Layout:
    """Apply change(layout) -> layout to the draft in one transaction."""
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.lock_template(conn, tenant_id, template_id):
            raise NotFound(_NOT_FOUND)
        row = await _load(conn, tenant_id, template_id)
        layout: Layout = change(parse_layout(row.draft))
        await db.set_draft(conn, tenant_id, template_id, layout.to_json())
    return layout


async def add_element(pool: Pool, user: User, template_id: int, kind: str) -> Element:
    """A new element of a kind, in the middle of the canvas, for the inspector to tune."""
    if kind not in KINDS:
        raise InvalidInput("Choose what to add.")
    added: list[Element] = []

    def change(layout: Layout) -> Layout:
        if len(layout.elements) >= MAX_ELEMENTS:
            raise InvalidInput(f"A template holds at most {MAX_ELEMENTS} elements.")
        w, h = layout.width // 3, layout.height // 8
        if kind in ("recent", "also"):
            h = layout.height // 2
        if kind == "qr":
            w = h = min(layout.width, layout.height) // 5
        element = parse_element(
            {
                "id": new_element_id(),
                "kind": kind,
                "x": (layout.width - w) // 2,
                "y": (layout.height - h) // 2,
                "w": w,
                "h": h,
                "text": "Welcome home, {first_name}!" if kind == "text" else "",
            },
            layout.width,
            layout.height,
        )
        added.append(element)
        return layout.with_element(element)

    await _edit_draft(pool, user, template_id, change)
    return added[0]


async def update_element(
    pool: Pool, user: User, template_id: int, element_id: str, form: Mapping[str, Any]
) -> Layout:
    """The inspector's fields (or a drag's x, y, w, h) over the element's current values."""

    def change(layout: Layout) -> Layout:
        current = layout.element(element_id)
        if current is None:
            raise NotFound("That element is no longer on the template.")
        merged = _merged(current, form)
        return layout.with_element(parse_element(merged, layout.width, layout.height))

    return await _edit_draft(pool, user, template_id, change)


def _merged(element: Element, form: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(element, name) for name in Element.__dataclass_fields__}
    for name in Element.__dataclass_fields__:
        if name in ("id", "kind"):
            continue
        if name in form:
            values[name] = form[name]
    return values


async def remove_element(pool: Pool, user: User, template_id: int, element_id: str) -> Layout:
    return await _edit_draft(pool, user, template_id, lambda layout: layout.without(element_id))


async def update_canvas(
    pool: Pool, user: User, template_id: int, form: Mapping[str, Any]
) -> Layout:
    """Background colour and image, and the canvas size (elements keep their positions)."""

    def change(layout: Layout) -> Layout:
        body = layout.to_json()
        for name in ("width", "height", "background", "background_image"):
            if name in form:
                body[name] = form[name]
        return parse_layout(body)

    return await _edit_draft(pool, user, template_id, change)


async def delete_template(pool: Pool, user: User, template_id: int) -> None:
    """Delete a template and its versions; refused while a display shows it."""
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.lock_template(conn, tenant_id, template_id):
            raise NotFound(_NOT_FOUND)
        using = await db.displays_of_template(conn, tenant_id, template_id)
        if using:
            shown = "1 display shows" if len(using) == 1 else f"{len(using)} displays show"
            raise InvalidInput(
                f"{shown} this template: choose another for them on their settings pages first."
            )
        name = await db.delete_template(conn, tenant_id, template_id)
        await _audit(conn, user, "template.deleted", {"template_id": template_id, "name": name})


async def rename(pool: Pool, user: User, template_id: int, name: str) -> None:
    tenant_id = user.own_tenant()
    name = _name(name)
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.rename_template(conn, tenant_id, template_id, name):
            raise NotFound(_NOT_FOUND)


async def save(pool: Pool, user: User, template_id: int, note: str = "") -> Saved:
    """The draft becomes the next version; displays following the template show it."""
    tenant_id = user.own_tenant()
    note = note.strip()[:200]
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.lock_template(conn, tenant_id, template_id):
            raise NotFound(_NOT_FOUND)
        row = await _load(conn, tenant_id, template_id)
        layout = parse_layout(row.draft).to_json()
        version = await db.add_version(conn, tenant_id, template_id, layout, user.id, note)
        await _audit(conn, user, "template.saved", {"template_id": template_id, "version": version})
        displays = await db.displays_of_template(conn, tenant_id, template_id)
    return Saved(version, displays)


async def revert(pool: Pool, user: User, template_id: int, version: int) -> Saved:
    """Version N's layout, exactly, saved again as the newest version (and the draft)."""
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.lock_template(conn, tenant_id, template_id):
            raise NotFound(_NOT_FOUND)
        old = await db.get_version(conn, tenant_id, template_id, version)
        if old is None:
            raise NotFound(f"Version {version} of this template does not exist.")
        await db.set_draft(conn, tenant_id, template_id, old)
        new = await db.add_version(
            conn, tenant_id, template_id, old, user.id, f"Reverted to version {version}"
        )
        await _audit(
            conn,
            user,
            "template.reverted",
            {"template_id": template_id, "to": version, "version": new},
        )
        displays = await db.displays_of_template(conn, tenant_id, template_id)
    return Saved(new, displays)


async def version_layout(pool: Pool, user: User, template_id: int, version: int) -> Layout:
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        body = await db.get_version(conn, tenant_id, template_id, version)
    if body is None:
        raise NotFound(f"Version {version} of this template does not exist.")
    return parse_layout(body)


async def use_on_display(
    pool: Pool,
    user: User,
    event_id: int,
    display_id: int,
    template_id: int | None,
    version: int | None,
) -> None:
    """Show a template (following its latest version, or pinned to one) on a display, or
    the built-in board (template_id None)."""
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        await find_event(conn, tenant_id, event_id)
        if template_id is not None:
            row = await _load(conn, tenant_id, template_id)
            if version is not None and not 1 <= version <= row.latest_version:
                raise InvalidInput(f"Version {version} of {row.name} does not exist.")
        else:
            version = None
        if not await db.set_display_template(
            conn, tenant_id, event_id, display_id, template_id, version
        ):
            raise NotFound("There is no such display.")
        await _audit(
            conn,
            user,
            "display.template",
            {"display_id": display_id, "template_id": template_id, "version": version},
        )


@dataclass(frozen=True, slots=True)
class DisplayChoice:
    """What a display's template picker offers: the tenant's templates, and the versions of
    the one the display shows (to pin one)."""

    template_id: int | None
    version: int | None
    templates: list[TemplateSummary]
    versions: list[VersionRow]


async def display_choice(pool: Pool, user: User, event_id: int, display_id: int) -> DisplayChoice:
    tenant_id = user.own_tenant()
    display = await displays_service.get_display(pool, tenant_id, event_id, display_id)
    async with tenant_connection(pool, tenant_id) as conn:
        templates = await db.list_templates(conn, tenant_id)
        versions = (
            await db.list_versions(conn, tenant_id, display.template_id)
            if display.template_id is not None
            else []
        )
    return DisplayChoice(display.template_id, display.template_version, templates, versions)


async def preview_sources(pool: Pool, user: User) -> list[tuple[str, str, str]]:
    """Displays whose race a template can be previewed on: (code, event, display)."""
    tenant_id = user.own_tenant()
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.preview_sources(conn, tenant_id)
