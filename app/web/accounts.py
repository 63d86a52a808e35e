"""The team page, invitation and reset links, and the platform admins' tenant list."""

# Operators get 403 on team pages: every tenant has a team page, so its existence tells
# them nothing, and "only owners and admins" says why. Foreign ids get 404 (their existence
# is the secret), and platform pages are 404 for tenants' users, who are not told of them.

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_400_BAD_REQUEST
from litestar.types import ControllerRouterHandler

from app.domain.accounts import (
    INVITATION_TTL,
    MIN_PASSWORD,
    RESET_TTL,
    TEAM_ROLES,
    landing,
)
from app.domain.catalog import User
from app.domain.errors import InvalidInput
from app.services import accounts as service
from app.web.auth import client_ip
from app.web.dependencies import USER, PoolDep, SettingsDep, UserDep, start_session
from app.web.errors import is_htmx

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
# A page whose address is a secret: never kept in a cache.
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class InviteForm:
    email: str = ""
    role: str = "operator"


@dataclass
class RoleForm:
    role: str = ""


@dataclass
class PasswordForm:
    password: str = ""
    password_again: str = ""
    display_name: str = ""


@dataclass
class TenantForm:
    slug: str = ""
    name: str = ""
    owner_email: str = ""


def _common(user: User) -> dict[str, Any]:
    return {
        "user": user,
        "roles": TEAM_ROLES,
        "invite_days": INVITATION_TTL.days,
        "reset_hours": int(RESET_TTL.total_seconds() // 3600),
    }


async def _team_page(user: User, pool: PoolDep, **extra: Any) -> Template:
    team = await service.team(pool, user)
    context = {**_common(user), "team": team, **extra}
    return Template("accounts/team.html", context=context, headers=_NO_STORE)


async def _after_change(
    request: Request[Any, Any, Any], user: User, pool: PoolDep, message: str
) -> Response[Any]:
    """htmx: the message where the click was, the lists refreshed out of band; else a 303."""
    if not is_htmx(request):
        return Redirect("/team", status_code=303)
    team = await service.team(pool, user)
    context = {**_common(user), "team": team, "message": message}
    return Template("accounts/_changed.html", context=context)


@get("/")
async def team_page(user: UserDep, pool: PoolDep) -> Template:
    return await _team_page(user, pool)


@post("/invitations")
async def invite(
    request: Request[Any, Any, Any],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    data: Annotated[InviteForm, _FORM],
) -> Template:
    issued = await service.invite(pool, user, data.email, data.role, client_ip(request))
    link = settings.base_url + service.invitation_path(issued.token)
    extra = {"issued": issued.invitation, "link": link}
    if not is_htmx(request):
        return await _team_page(user, pool, **extra)
    team = await service.team(pool, user)
    context = {**_common(user), "team": team, **extra}
    return Template("accounts/_invited.html", context=context, headers=_NO_STORE)


@post("/invitations/{invitation_id:int}/revoke")
async def revoke_invitation(
    request: Request[Any, Any, Any], invitation_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.revoke_invitation(pool, user, invitation_id, client_ip(request))
    return await _after_change(request, user, pool, "The invitation was withdrawn.")


@post("/members/{user_id:int}/role")
async def change_role(
    request: Request[Any, Any, Any],
    user_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[RoleForm, _FORM],
) -> Response[Any]:
    member = await service.change_role(pool, user, user_id, data.role, client_ip(request))
    role = TEAM_ROLES[member.role].lower()
    return await _after_change(request, user, pool, f"{member.email} is now {role}.")


@post("/members/{user_id:int}/remove")
async def remove_member(
    request: Request[Any, Any, Any], user_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    member = await service.remove_user(pool, user, user_id, client_ip(request))
    return await _after_change(request, user, pool, f"{member.email} was removed from the team.")


@post("/members/{user_id:int}/reset-link")
async def reset_link(
    request: Request[Any, Any, Any],
    user_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
) -> Template:
    issued = await service.create_reset_link(pool, user, user_id, client_ip(request))
    extra = {
        "reset_for": issued.user,
        "reset_link": settings.base_url + service.reset_path(issued.token),
    }
    if not is_htmx(request):
        return await _team_page(user, pool, **extra)
    context = {**_common(user), **extra}
    return Template("accounts/_reset_link.html", context=context, headers=_NO_STORE)


team_router = Router(
    path="/team",
    route_handlers=[team_page, invite, revoke_invitation, change_role, remove_member, reset_link],
    dependencies=USER,
)


# --- public link pages: the token is the credential ---------------------------------------


def _password_form(
    template: str, status_code: int = 200, error: str | None = None, **context: Any
) -> Template:
    context = {"error": error, "min_password": MIN_PASSWORD, **context}
    return Template(template, context=context, status_code=status_code, headers=_NO_STORE)


@get("/invite/{token:str}")
async def invitation_page(token: FromPath[str], pool: PoolDep) -> Template:
    invitation = await service.invitation_for_token(pool, token)
    return _password_form(
        "accounts/accept.html", invitation=invitation, roles=TEAM_ROLES, display_name=""
    )


@post("/invite/{token:str}")
async def accept_invitation(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    pool: PoolDep,
    data: Annotated[PasswordForm, _FORM],
) -> Response[Any]:
    invitation = await service.invitation_for_token(pool, token)
    try:
        if data.password != data.password_again:
            raise InvalidInput("The two passwords differ. Type the same one twice.")
        user = await service.accept_invitation(
            pool, token, data.display_name, data.password, client_ip(request)
        )
    except InvalidInput as exc:
        # The form comes back with what was typed, except the passwords.
        return _password_form(
            "accounts/accept.html",
            HTTP_400_BAD_REQUEST,
            str(exc),
            invitation=invitation,
            roles=TEAM_ROLES,
            display_name=data.display_name,
        )
    await start_session(request, pool, user.id)
    return Redirect(landing(user), status_code=303)


@get("/reset/{token:str}")
async def reset_page(token: FromPath[str], pool: PoolDep) -> Template:
    reset = await service.reset_for_token(pool, token)
    return _password_form("accounts/reset.html", reset=reset)


@post("/reset/{token:str}")
async def reset_password(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    pool: PoolDep,
    data: Annotated[PasswordForm, _FORM],
) -> Response[Any]:
    reset = await service.reset_for_token(pool, token)
    try:
        if data.password != data.password_again:
            raise InvalidInput("The two passwords differ. Type the same one twice.")
        user = await service.reset_password(pool, token, data.password, client_ip(request))
    except InvalidInput as exc:
        return _password_form("accounts/reset.html", HTTP_400_BAD_REQUEST, str(exc), reset=reset)
    await start_session(request, pool, user.id)
    return Redirect(landing(user), status_code=303)


# --- platform admins ------------------------------------------------------------------


async def _tenants_page(user: User, pool: PoolDep, **extra: Any) -> Template:
    tenants = await service.list_tenants(pool, user)
    context = {**_common(user), "tenants": tenants, **extra}
    return Template("accounts/tenants.html", context=context, headers=_NO_STORE)


@get("/tenants")
async def tenants_page(user: UserDep, pool: PoolDep) -> Template:
    return await _tenants_page(user, pool)


@post("/tenants")
async def create_tenant(
    request: Request[Any, Any, Any],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    data: Annotated[TenantForm, _FORM],
) -> Template:
    tenant, issued = await service.create_tenant(
        pool,
        user,
        slug=data.slug,
        name=data.name,
        owner_email=data.owner_email,
        ip=client_ip(request),
    )
    link = settings.base_url + service.invitation_path(issued.token)
    extra = {"created": tenant, "issued": issued.invitation, "link": link}
    if not is_htmx(request):
        return await _tenants_page(user, pool, **extra)
    tenants = await service.list_tenants(pool, user)
    context = {**_common(user), "tenants": tenants, **extra}
    return Template("accounts/_tenant_created.html", context=context, headers=_NO_STORE)


admin_router = Router(
    path="/admin", route_handlers=[tenants_page, create_tenant], dependencies=USER
)

ROUTES: list[ControllerRouterHandler] = [
    team_router,
    admin_router,
    invitation_page,
    accept_invitation,
    reset_page,
    reset_password,
]
