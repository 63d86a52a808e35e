"""Team members, invitations, reset links and the role rules, as plain data and pure checks."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.catalog import User
from app.domain.errors import Forbidden, InvalidInput

INVITATION_TTL = timedelta(days=7)
# Handed over by a person, not mailed by us on request: see migration 0004.
RESET_TTL = timedelta(hours=24)
MIN_PASSWORD = 10
# argon2 takes any length; the cap only stops a megabyte "password" from costing CPU.
MAX_PASSWORD = 1024

TEAM_ROLES: dict[str, str] = {
    "owner": "Owner",
    "admin": "Admin",
    "operator": "Operator",
}
PLATFORM_ADMIN = "platform_admin"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The same rule as the tenants.slug CHECK, so a bad slug is a message, not a driver error.
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    email: str
    display_name: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    tenant_id: int
    email: str
    role: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    tenant_name: str = ""


@dataclass(frozen=True, slots=True)
class PasswordReset:
    id: int
    user_id: int
    tenant_id: int | None
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TenantSummary:
    id: int
    slug: str
    name: str
    created_at: datetime
    members: int
    owners: int
    pending_invitations: int


def new_token() -> tuple[str, str]:
    """A fresh link token and the hash that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


def link_problem(
    now: datetime,
    expires_at: datetime,
    used_at: datetime | None,
    revoked_at: datetime | None = None,
) -> str | None:
    """Why a one-time link no longer works, in words for its holder; None while it works."""
    if used_at is not None:
        return "This link has been used already. Each link works once."
    if revoked_at is not None:
        return "This link was withdrawn. Ask your team's owner for a new one."
    if now >= expires_at:
        return "This link has expired. Ask your team's owner for a new one."
    return None


def clean_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise InvalidInput(f"{email!r} is not an e-mail address.")
    return email


def clean_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.fullmatch(slug):
        raise InvalidInput(
            f"{slug!r} cannot be a short name: use 2-63 lower-case letters, digits and "
            "dashes, starting with a letter or digit."
        )
    return slug


def clean_role(role: str) -> str:
    if role not in TEAM_ROLES:
        raise InvalidInput("Pick one of the roles: owner, admin or operator.")
    return role


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"Keep the password under {MAX_PASSWORD} characters.")


def clean_display_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Tell us your name, as your team should see it.")
    if len(name) > 100:
        raise InvalidInput("Keep the name under 100 characters.")
    return name


def can_manage_team(role: str) -> bool:
    return role in ("owner", "admin")


def require_team_manager(role: str) -> None:
    if not can_manage_team(role):
        raise Forbidden("Only owners and admins manage the team.")


def require_owner(role: str, doing: str) -> None:
    if role != "owner":
        raise Forbidden(f"Only an owner can {doing}.")


def check_invite(actor_role: str, role: str) -> None:
    """Owners and admins invite; only an owner hands out the owner role."""
    require_team_manager(actor_role)
    if role == "owner":
        require_owner(actor_role, "invite another owner")


def check_remove(actor_id: int, actor_role: str, target: Member, owners: int) -> None:
    require_team_manager(actor_role)
    if target.id == actor_id:
        raise Forbidden("You cannot remove yourself. Ask another owner or admin.")
    if target.role == "owner":
        require_owner(actor_role, "remove an owner")
        if owners <= 1:
            raise Forbidden("This is the team's last owner; make someone else owner first.")


def check_role_change(actor_role: str, target: Member, role: str, owners: int) -> None:
    require_owner(actor_role, "change roles")
    if target.role == "owner" and role != "owner" and owners <= 1:
        raise Forbidden("This is the team's last owner; make someone else owner first.")


def landing(user: User) -> str:
    """Where a user starts after signing in: platform admins above tenants, others at events."""
    return "/admin/tenants" if user.role == PLATFORM_ADMIN else "/events"
