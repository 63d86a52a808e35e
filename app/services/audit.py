"""Reading the audit log: a tenant's recent entries, for its owners and admins."""

from __future__ import annotations

from app.db import audit
from app.db.audit import AuditEntry
from app.db.pool import Pool, tenant_connection
from app.domain.catalog import User
from app.domain.errors import Forbidden

# Roles that may read their tenant's audit log.
AUDIT_READERS = frozenset({"owner", "admin"})


async def recent_entries(pool: Pool, user: User, limit: int = 200) -> list[AuditEntry]:
    """The user's own tenant's newest entries; never another tenant's, never platform ones.

    Forbidden (403), not NotFound, for an operator: they know the page exists, hiding it
    protects nothing, and "not allowed" tells them to ask an owner. 404 stays the answer
    for other tenants' resources, whose very existence must not leak.
    """
    tenant_id = user.own_tenant()
    if user.role not in AUDIT_READERS:
        raise Forbidden("Only owners and admins can read the audit log.")
    async with tenant_connection(pool, tenant_id) as conn:
        return await audit.list_for_tenant(conn, tenant_id, limit)


__all__ = ["AuditEntry", "recent_entries"]
