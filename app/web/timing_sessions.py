"""The session picker: a tenant's own timing sessions, and /admin/sessions for platform admins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath
from litestar.response import Template

from app.services import sessions as service
from app.web.dependencies import USER, PoolDep, UserDep, tenant_of
from app.web.events import _FORM, client_ip, see_other


@dataclass
class RenameForm:
    display_name: str = ""


@dataclass
class MoveForm:
    event_id: int = 0


@dataclass
class AssignForm:
    session_id: int = 0
    event_id: int = 0


def _back(event_id: int | None, session_id: int) -> str:
    return f"/events/{event_id}" if event_id is not None else f"/sessions/{session_id}"


@get("/{session_id:int}")
async def session_page(session_id: FromPath[int], user: UserDep, pool: PoolDep) -> Template:
    page = await service.session_page(pool, tenant_of(user), session_id)
    return Template("sessions/detail.html", context={"user": user, "p": page})


@post("/{session_id:int}/rename")
async def rename_session(
    request: Request[Any, Any, Any],
    session_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[RenameForm, _FORM],
) -> Response[Any]:
    await service.rename(pool, tenant_of(user), session_id, data.display_name)
    return see_other(request, f"/sessions/{session_id}")


@post("/{session_id:int}/move")
async def move_session(
    request: Request[Any, Any, Any],
    session_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[MoveForm, _FORM],
) -> Response[Any]:
    await service.move(pool, tenant_of(user), session_id, data.event_id)
    return see_other(request, f"/events/{data.event_id}")


@post("/{session_id:int}/detach")
async def detach_session(
    request: Request[Any, Any, Any], session_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.detach(pool, tenant_of(user), session_id)
    return see_other(request, f"/sessions/{session_id}")


@post("/{session_id:int}/end")
async def end_session(
    request: Request[Any, Any, Any], session_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    tenant_id = tenant_of(user)
    await service.end(pool, tenant_id, session_id, user_id=user.id, ip=client_ip(request))
    return see_other(request, f"/sessions/{session_id}")


@post("/{session_id:int}/archive")
async def archive_session(
    request: Request[Any, Any, Any], session_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    tenant_id = tenant_of(user)
    page = await service.session_page(pool, tenant_id, session_id)
    await service.archive(pool, tenant_id, session_id, user_id=user.id, ip=client_ip(request))
    return see_other(request, _back(page.session.event_id, session_id))


@get("/")
async def admin_sessions(user: UserDep, pool: PoolDep) -> Template:
    sessions = await service.unclaimed(pool, user)
    context = {"user": user, "sessions": sessions, "message": None}
    return Template("admin/sessions.html", context=context)


@post("/assign", status_code=200)
async def admin_assign(
    request: Request[Any, Any, Any],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[AssignForm, _FORM],
) -> Template:
    message = await service.assign(
        pool, user, data.session_id, data.event_id, ip=client_ip(request)
    )
    sessions = await service.unclaimed(pool, user)
    context = {"user": user, "sessions": sessions, "message": message}
    return Template("admin/sessions.html", context=context)


router = Router(
    path="/sessions",
    route_handlers=[
        session_page,
        rename_session,
        move_session,
        detach_session,
        end_session,
        archive_session,
    ],
    dependencies=USER,
)
admin_router = Router(
    path="/admin/sessions", route_handlers=[admin_sessions, admin_assign], dependencies=USER
)
ROUTERS = [router, admin_router]
