"""The audit log: one row per security-relevant action, scoped by tenant (NULL: platform)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.db.queries import fetch_all, q


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    action: str
    detail: dict[str, Any]
    ip: str
    user_id: int | None
    user_email: str


async def record(
    conn: AsyncConnection,
    *,
    tenant_id: int | None,
    user_id: int | None,
    action: str,
    detail: dict[str, object] | None = None,
    ip: str = "",
) -> None:
    """Append one entry; runs in the caller's transaction when it has one."""
    params = {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "action": action,
        "detail": Jsonb(detail or {}),
        "ip": ip,
    }
    await conn.execute(q("record_audit"), params)


async def list_for_tenant(
    conn: AsyncConnection, tenant_id: int, limit: int = 200
) -> list[AuditEntry]:
    rows: list[AuditEntry] = await fetch_all(
        conn, AuditEntry, "list_audit_for_tenant", {"tenant_id": tenant_id, "limit": limit}
    )
    return rows
