"""The audit log page: the signed-in tenant's last 200 entries, for owners and admins."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from app.services import audit as service
from app.web.dependencies import USER, PoolDep, UserDep

AUDIT_PAGE_SIZE = 200


@get("/audit", dependencies=USER)
async def audit_page(user: UserDep, pool: PoolDep) -> Template:
    entries = await service.recent_entries(pool, user, AUDIT_PAGE_SIZE)
    return Template("audit.html", context={"user": user, "entries": entries})


ROUTES = [audit_page]
