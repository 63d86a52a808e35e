"""Teams: invitations, roles, removal, password reset links, tenants and platform admins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from app.db import accounts, audit, catalog
from app.db.pool import Pool, connection, tenant_connection
from app.domain.accounts import (
    INVITATION_TTL,
    PLATFORM_ADMIN,
    RESET_TTL,
    Invitation,
    Member,
    PasswordReset,
    TenantSummary,
    check_invite,
    check_password,
    check_remove,
    check_role_change,
    clean_display_name,
    clean_email,
    clean_role,
    clean_slug,
    link_problem,
    looks_like_token,
    new_token,
    require_owner,
    require_team_manager,
    token_hash,
)
from app.domain.catalog import Tenant, User
from app.domain.errors import Conflict, Gone, InvalidInput, NotFound
from app.services.auth import hash_password

_NO_MEMBER = "There is no such person on your team."
_NO_INVITATION = "There is no such invitation."
_BAD_LINK = "This link is not valid. Check that it was copied whole."


@dataclass(frozen=True, slots=True)
class Team:
    members: list[Member]
    invitations: list[Invitation]


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """The token is shown once, to whoever made the invitation; only its hash is stored."""

    invitation: Invitation
    token: str


@dataclass(frozen=True, slots=True)
class IssuedReset:
    user: Member | User
    token: str


def _now() -> datetime:
    return datetime.now(UTC)


async def _hash(password: str) -> str:
    check_password(password)
    # argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(hash_password, password)


# --- the team page ---------------------------------------------------------------------


async def team(pool: Pool, actor: User) -> Team:
    tenant_id = actor.own_tenant()
    require_team_manager(actor.role)
    async with tenant_connection(pool, tenant_id) as conn:
        members = await accounts.list_members(conn, tenant_id)
        invitations = await accounts.list_pending_invitations(conn, tenant_id)
    return Team(members, invitations)


async def invite(pool: Pool, actor: User, email: str, role: str, ip: str = "") -> IssuedInvitation:
    tenant_id = actor.own_tenant()
    role = clean_role(role)
    check_invite(actor.role, role)
    email = clean_email(email)
    token, hashed = new_token()
    async with tenant_connection(pool, tenant_id) as conn:
        if await accounts.get_member_by_email(conn, tenant_id, email) is not None:
            raise Conflict(f"{email} is on your team already.")
        invitation = await accounts.create_invitation(
            conn,
            tenant_id,
            email=email,
            role=role,
            token_hash=hashed,
            created_by=actor.id,
            ttl=INVITATION_TTL,
        )
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=actor.id,
            action="invitation.created",
            detail={"invitation_id": invitation.id, "email": email, "role": role},
            ip=ip,
        )
    return IssuedInvitation(invitation, token)


async def revoke_invitation(pool: Pool, actor: User, invitation_id: int, ip: str = "") -> None:
    tenant_id = actor.own_tenant()
    require_team_manager(actor.role)
    async with tenant_connection(pool, tenant_id) as conn:
        found = await accounts.get_invitation(conn, tenant_id, invitation_id)
        if found is None:
            raise NotFound(_NO_INVITATION)
        check_invite(actor.role, found.role)
        revoked = await accounts.revoke_invitation(conn, tenant_id, invitation_id)
        if revoked is None:
            raise Conflict("This invitation was accepted or withdrawn already.")
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=actor.id,
            action="invitation.revoked",
            detail={"invitation_id": invitation_id, "email": found.email, "role": found.role},
            ip=ip,
        )


async def change_role(pool: Pool, actor: User, user_id: int, role: str, ip: str = "") -> Member:
    tenant_id = actor.own_tenant()
    require_owner(actor.role, "change roles")
    role = clean_role(role)
    async with tenant_connection(pool, tenant_id) as conn:
        await accounts.lock_team(conn, tenant_id)
        target = await accounts.get_member(conn, tenant_id, user_id)
        if target is None:
            raise NotFound(_NO_MEMBER)
        check_role_change(actor.role, target, role, await accounts.count_owners(conn, tenant_id))
        if target.role == role:
            return target
        changed = await accounts.set_member_role(conn, tenant_id, user_id, role)
        assert changed is not None  # the team is locked: the row cannot have gone
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=actor.id,
            action="user.role_changed",
            detail={"user_id": user_id, "email": target.email, "from": target.role, "to": role},
            ip=ip,
        )
    return changed


async def remove_user(pool: Pool, actor: User, user_id: int, ip: str = "") -> Member:
    tenant_id = actor.own_tenant()
    require_team_manager(actor.role)
    async with tenant_connection(pool, tenant_id) as conn:
        await accounts.lock_team(conn, tenant_id)
        target = await accounts.get_member(conn, tenant_id, user_id)
        if target is None:
            raise NotFound(_NO_MEMBER)
        check_remove(actor.id, actor.role, target, await accounts.count_owners(conn, tenant_id))
        # Deleting the row ends the person's sessions too: each request looks the user up.
        await accounts.delete_member(conn, tenant_id, user_id)
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=actor.id,
            action="user.removed",
            detail={"user_id": user_id, "email": target.email, "role": target.role},
            ip=ip,
        )
    return target


async def create_reset_link(pool: Pool, actor: User, user_id: int, ip: str = "") -> IssuedReset:
    """An owner makes a one-time link for someone on their team (themselves included)."""
    tenant_id = actor.own_tenant()
    require_owner(actor.role, "make password reset links")
    token, hashed = new_token()
    async with tenant_connection(pool, tenant_id) as conn:
        target = await accounts.get_member(conn, tenant_id, user_id)
        if target is None:
            raise NotFound(_NO_MEMBER)
        stored = await accounts.create_password_reset(
            conn, tenant_id, user_id, token_hash=hashed, created_by=actor.id, ttl=RESET_TTL
        )
        assert stored  # the member was just found in this tenant
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=actor.id,
            action="password_reset.created",
            detail={"user_id": user_id, "email": target.email},
            ip=ip,
        )
    return IssuedReset(target, token)


# --- the public link pages -------------------------------------------------------------


async def invitation_for_token(pool: Pool, token: str) -> Invitation:
    """The open invitation a link stands for; NotFound or Gone (with the reason) otherwise."""
    if not looks_like_token(token):
        raise NotFound(_BAD_LINK)
    async with connection(pool) as conn:
        found = await accounts.find_invitation_by_token(conn, token_hash(token))
    return _open_invitation(found)


def _open_invitation(found: Invitation | None) -> Invitation:
    if found is None:
        raise NotFound(_BAD_LINK)
    problem = link_problem(_now(), found.expires_at, found.accepted_at, found.revoked_at)
    if problem:
        raise Gone(problem)
    return found


async def accept_invitation(
    pool: Pool, token: str, display_name: str, password: str, ip: str = ""
) -> User:
    """Creates the invited user (who is then signed in by the caller); a link works once."""
    if not looks_like_token(token):
        raise NotFound(_BAD_LINK)
    name = clean_display_name(display_name)
    password_hash = await _hash(password)
    async with connection(pool) as conn, conn.transaction():
        # Locked until commit: a second submission waits, then finds it accepted.
        invitation = _open_invitation(
            await accounts.find_invitation_by_token(conn, token_hash(token))
        )
        if await accounts.find_user_by_email(conn, invitation.email) is not None:
            # Told to the invitee only, who holds the address; the inviter never learns it.
            raise Conflict(
                f"There is an account for {invitation.email} already. Sign in with it, "
                "or ask for an invitation to another address."
            )
        user = await catalog.create_user(
            conn,
            tenant_id=invitation.tenant_id,
            email=invitation.email,
            password_hash=password_hash,
            role=invitation.role,
            display_name=name,
        )
        await accounts.mark_invitation_accepted(conn, invitation.tenant_id, invitation.id)
        await audit.record(
            conn,
            tenant_id=invitation.tenant_id,
            user_id=user.id,
            action="invitation.accepted",
            detail={"invitation_id": invitation.id, "email": user.email, "role": user.role},
            ip=ip,
        )
    return user


async def reset_for_token(pool: Pool, token: str) -> PasswordReset:
    if not looks_like_token(token):
        raise NotFound(_BAD_LINK)
    async with connection(pool) as conn:
        found = await accounts.find_password_reset_by_token(conn, token_hash(token))
    return _open_reset(found)


def _open_reset(found: PasswordReset | None) -> PasswordReset:
    if found is None:
        raise NotFound(_BAD_LINK)
    problem = link_problem(_now(), found.expires_at, found.used_at)
    if problem:
        raise Gone(problem)
    return found


async def reset_password(pool: Pool, token: str, password: str, ip: str = "") -> User:
    """Sets the new password; the link (and any other open one of the user) stops working."""
    if not looks_like_token(token):
        raise NotFound(_BAD_LINK)
    password_hash = await _hash(password)
    async with connection(pool) as conn, conn.transaction():
        reset = _open_reset(await accounts.find_password_reset_by_token(conn, token_hash(token)))
        updated = await accounts.set_member_password(
            conn, reset.tenant_id, reset.user_id, password_hash
        )
        user = await catalog.get_user(conn, reset.user_id)
        if not updated or user is None:
            raise NotFound(_BAD_LINK)
        await accounts.use_password_reset(conn, reset)
        await audit.record(
            conn,
            tenant_id=reset.tenant_id,
            user_id=reset.user_id,
            action="password_reset.used",
            detail={"reset_id": reset.id, "email": reset.email},
            ip=ip,
        )
    return user


# --- platform administration (web: platform admins; CLI: whoever runs it) ---------------


def require_platform_admin(actor: User) -> None:
    if actor.role != PLATFORM_ADMIN:
        # Tenants' users are not told the platform pages exist.
        raise NotFound("There is no page at this address.")


async def list_tenants(pool: Pool, actor: User) -> list[TenantSummary]:
    require_platform_admin(actor)
    async with connection(pool) as conn:
        return await accounts.list_tenants(conn)


async def create_tenant(
    pool: Pool, actor: User | None, *, slug: str, name: str, owner_email: str, ip: str = ""
) -> tuple[Tenant, IssuedInvitation]:
    """A tenant and the invitation link for its first owner; actor None: the command line."""
    if actor is not None:
        require_platform_admin(actor)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the tenant a name.")
    if len(name) > 200:
        raise InvalidInput("Keep the tenant name under 200 characters.")
    slug = clean_slug(slug)
    email = clean_email(owner_email)
    token, hashed = new_token()
    async with connection(pool) as conn, conn.transaction():
        tenant = await catalog.create_tenant(conn, slug, name)
        invitation = await accounts.create_invitation(
            conn,
            tenant.id,
            email=email,
            role="owner",
            token_hash=hashed,
            created_by=actor.id if actor else None,
            ttl=INVITATION_TTL,
        )
        await audit.record(
            conn,
            tenant_id=tenant.id,
            user_id=actor.id if actor else None,
            action="tenant.created",
            detail={"slug": slug, "name": name, "by": "web" if actor else "command line"},
            ip=ip,
        )
        await audit.record(
            conn,
            tenant_id=tenant.id,
            user_id=actor.id if actor else None,
            action="invitation.created",
            detail={"invitation_id": invitation.id, "email": email, "role": "owner"},
            ip=ip,
        )
    return tenant, IssuedInvitation(invitation, token)


async def create_platform_admin(pool: Pool, email: str, password: str) -> User:
    """Command line only: platform admins sit above tenants and are made by the operator."""
    email = clean_email(email)
    password_hash = await _hash(password)
    async with connection(pool) as conn, conn.transaction():
        user = await catalog.create_user(
            conn,
            tenant_id=None,
            email=email,
            password_hash=password_hash,
            role=PLATFORM_ADMIN,
            display_name="",
        )
        await audit.record(
            conn,
            tenant_id=None,
            user_id=user.id,
            action="platform_admin.created",
            detail={"email": email, "by": "command line"},
        )
    return user


async def reset_link_for_email(pool: Pool, email: str) -> IssuedReset:
    """Command line only: a one-time link for any account, platform admins included."""
    token, hashed = new_token()
    async with connection(pool) as conn, conn.transaction():
        user = await accounts.find_user_by_email(conn, email.strip())
        if user is None:
            raise NotFound(f"There is no account for {email.strip()!r}.")
        await accounts.create_password_reset(
            conn, user.tenant_id, user.id, token_hash=hashed, created_by=None, ttl=RESET_TTL
        )
        await audit.record(
            conn,
            tenant_id=user.tenant_id,
            user_id=None,
            action="password_reset.created",
            detail={"user_id": user.id, "email": user.email, "by": "command line"},
        )
    return IssuedReset(user, token)


def invitation_path(token: str) -> str:
    return f"/invite/{token}"


def reset_path(token: str) -> str:
    return f"/reset/{token}"
