"""Display templates and their versions (sql/queries/templates.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.db.queries import fetch_all, fetch_one, q


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    id: int
    name: str
    latest_version: int
    saved_at: datetime | None
    displays: int


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    name: str
    # The layout as stored JSON; app.domain.templates.parse_layout checks it.
    draft: dict[str, Any]
    draft_updated_at: datetime
    latest_version: int


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    created_at: datetime
    note: str
    author: str


async def _scalar(conn: AsyncConnection, name: str, params: dict[str, Any]) -> Any:
    cur = await conn.execute(q(name), params)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def create_template(
    conn: AsyncConnection, tenant_id: int, name: str, layout: dict[str, Any]
) -> int:
    params = {"tenant_id": tenant_id, "name": name, "layout": Jsonb(layout)}
    template_id: int = await _scalar(conn, "create_template", params)
    return template_id


async def list_templates(conn: AsyncConnection, tenant_id: int) -> list[TemplateSummary]:
    return await fetch_all(conn, TemplateSummary, "list_templates", {"tenant_id": tenant_id})


async def get_template(
    conn: AsyncConnection, tenant_id: int, template_id: int
) -> TemplateRow | None:
    row: TemplateRow | None = await fetch_one(
        conn, TemplateRow, "get_template", {"tenant_id": tenant_id, "template_id": template_id}
    )
    return row


async def lock_template(conn: AsyncConnection, tenant_id: int, template_id: int) -> bool:
    params = {"tenant_id": tenant_id, "template_id": template_id}
    return await _scalar(conn, "lock_template", params) is not None


async def set_draft(
    conn: AsyncConnection, tenant_id: int, template_id: int, layout: dict[str, Any]
) -> bool:
    params = {"tenant_id": tenant_id, "template_id": template_id, "layout": Jsonb(layout)}
    return await _scalar(conn, "set_template_draft", params) is not None


async def rename_template(
    conn: AsyncConnection, tenant_id: int, template_id: int, name: str
) -> bool:
    params = {"tenant_id": tenant_id, "template_id": template_id, "name": name}
    return await _scalar(conn, "rename_template", params) is not None


async def add_version(
    conn: AsyncConnection,
    tenant_id: int,
    template_id: int,
    layout: dict[str, Any],
    author_id: int | None,
    note: str,
) -> int:
    """The next version number; call under lock_template in the same transaction."""
    params = {
        "tenant_id": tenant_id,
        "template_id": template_id,
        "layout": Jsonb(layout),
        "author_id": author_id,
        "note": note,
    }
    version: int = await _scalar(conn, "add_template_version", params)
    return version


async def list_versions(
    conn: AsyncConnection, tenant_id: int, template_id: int
) -> list[VersionRow]:
    params = {"tenant_id": tenant_id, "template_id": template_id}
    return await fetch_all(conn, VersionRow, "list_template_versions", params)


async def get_version(
    conn: AsyncConnection, tenant_id: int, template_id: int, version: int
) -> dict[str, Any] | None:
    params = {"tenant_id": tenant_id, "template_id": template_id, "version": version}
    layout: dict[str, Any] | None = await _scalar(conn, "get_template_version", params)
    return layout


async def display_layout(
    conn: AsyncConnection, tenant_id: int, template_id: int, version: int | None
) -> tuple[int, dict[str, Any]] | None:
    """(version, layout) a display shows: the pinned version, else the latest saved."""
    params = {"tenant_id": tenant_id, "template_id": template_id, "version": version}
    cur = await conn.execute(q("display_template_layout"), params)
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def displays_of_template(
    conn: AsyncConnection, tenant_id: int, template_id: int
) -> list[tuple[int, int]]:
    """(event_id, display_id) of the live displays showing a template."""
    cur = await conn.execute(
        q("displays_of_template"), {"tenant_id": tenant_id, "template_id": template_id}
    )
    return [(e, d) for e, d in await cur.fetchall()]


async def set_display_template(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    display_id: int,
    template_id: int | None,
    version: int | None,
) -> bool:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "display_id": display_id,
        "template_id": template_id,
        "version": version,
    }
    return await _scalar(conn, "set_display_template", params) is not None


async def delete_template(conn: AsyncConnection, tenant_id: int, template_id: int) -> str | None:
    """The deleted template's name (its versions go with it), or None."""
    params = {"tenant_id": tenant_id, "template_id": template_id}
    name: str | None = await _scalar(conn, "delete_template", params)
    return name


async def templates_using_image(conn: AsyncConnection, tenant_id: int, key: str) -> list[str]:
    """Names of the templates that would show the image (draft, latest or pinned version)."""
    cur = await conn.execute(q("templates_using_image"), {"tenant_id": tenant_id, "key": key})
    return [name for (name,) in await cur.fetchall()]


async def preview_sources(conn: AsyncConnection, tenant_id: int) -> list[tuple[str, str, str]]:
    """(code, event name, display name) of the tenant's live displays."""
    cur = await conn.execute(q("preview_sources"), {"tenant_id": tenant_id})
    return [(code, event, display) for code, event, display in await cur.fetchall()]
