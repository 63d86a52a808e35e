"""Team members, invitations and password reset links; every tenant's query takes its tenant_id."""

from __future__ import annotations

from datetime import timedelta

from psycopg import AsyncConnection

from app.db.queries import fetch_all, fetch_one, q
from app.domain.accounts import Invitation, Member, PasswordReset, TenantSummary
from app.domain.catalog import User


async def lock_team(conn: AsyncConnection, tenant_id: int) -> bool:
    """Inside a transaction: hold the tenant's team until commit; False if no such tenant."""
    cur = await conn.execute(q("lock_team"), {"tenant_id": tenant_id})
    return await cur.fetchone() is not None


async def list_members(conn: AsyncConnection, tenant_id: int) -> list[Member]:
    return await fetch_all(conn, Member, "list_members", {"tenant_id": tenant_id})


async def get_member(conn: AsyncConnection, tenant_id: int, user_id: int) -> Member | None:
    row: Member | None = await fetch_one(
        conn, Member, "get_member", {"tenant_id": tenant_id, "user_id": user_id}
    )
    return row


async def get_member_by_email(conn: AsyncConnection, tenant_id: int, email: str) -> Member | None:
    row: Member | None = await fetch_one(
        conn, Member, "get_member_by_email", {"tenant_id": tenant_id, "email": email}
    )
    return row


async def count_owners(conn: AsyncConnection, tenant_id: int) -> int:
    cur = await conn.execute(q("count_owners"), {"tenant_id": tenant_id})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def set_member_role(
    conn: AsyncConnection, tenant_id: int, user_id: int, role: str
) -> Member | None:
    row: Member | None = await fetch_one(
        conn, Member, "set_member_role", {"tenant_id": tenant_id, "user_id": user_id, "role": role}
    )
    return row


async def delete_member(conn: AsyncConnection, tenant_id: int, user_id: int) -> Member | None:
    row: Member | None = await fetch_one(
        conn, Member, "delete_member", {"tenant_id": tenant_id, "user_id": user_id}
    )
    return row


async def set_member_password(
    conn: AsyncConnection, tenant_id: int | None, user_id: int, password_hash: str
) -> bool:
    """tenant_id None addresses a platform admin."""
    params = {"tenant_id": tenant_id, "user_id": user_id, "password_hash": password_hash}
    cur = await conn.execute(q("set_member_password"), params)
    return await cur.fetchone() is not None


async def create_invitation(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    email: str,
    role: str,
    token_hash: str,
    created_by: int | None,
    ttl: timedelta,
) -> Invitation:
    """Earlier open invitations for the same address stop working."""
    async with conn.transaction():
        await conn.execute(
            q("revoke_pending_invitations_for_email"), {"tenant_id": tenant_id, "email": email}
        )
        params = {
            "tenant_id": tenant_id,
            "email": email,
            "role": role,
            "token_hash": token_hash,
            "created_by": created_by,
            "ttl_s": ttl.total_seconds(),
        }
        row: Invitation = await fetch_one(conn, Invitation, "create_invitation", params)
    return row


async def list_pending_invitations(conn: AsyncConnection, tenant_id: int) -> list[Invitation]:
    return await fetch_all(conn, Invitation, "list_pending_invitations", {"tenant_id": tenant_id})


async def get_invitation(
    conn: AsyncConnection, tenant_id: int, invitation_id: int
) -> Invitation | None:
    row: Invitation | None = await fetch_one(
        conn, Invitation, "get_invitation", {"tenant_id": tenant_id, "invitation_id": invitation_id}
    )
    return row


async def revoke_invitation(
    conn: AsyncConnection, tenant_id: int, invitation_id: int
) -> Invitation | None:
    """The invitation, if it was still open in this tenant."""
    row: Invitation | None = await fetch_one(
        conn,
        Invitation,
        "revoke_invitation",
        {"tenant_id": tenant_id, "invitation_id": invitation_id},
    )
    return row


async def find_invitation_by_token(conn: AsyncConnection, token_hash: str) -> Invitation | None:
    """In a transaction, the row stays locked until commit, so a link is accepted once."""
    row: Invitation | None = await fetch_one(
        conn, Invitation, "find_invitation_by_token", {"token_hash": token_hash}
    )
    return row


async def mark_invitation_accepted(
    conn: AsyncConnection, tenant_id: int, invitation_id: int
) -> None:
    await conn.execute(
        q("mark_invitation_accepted"), {"tenant_id": tenant_id, "invitation_id": invitation_id}
    )


async def create_password_reset(
    conn: AsyncConnection,
    tenant_id: int | None,
    user_id: int,
    *,
    token_hash: str,
    created_by: int | None,
    ttl: timedelta,
) -> bool:
    """False (nothing stored) unless the user is in tenant_id; earlier links stop working."""
    async with conn.transaction():
        await conn.execute(q("expire_password_resets"), {"user_id": user_id})
        params = {
            "tenant_id": tenant_id,
            "user_id": user_id,
            "token_hash": token_hash,
            "created_by": created_by,
            "ttl_s": ttl.total_seconds(),
        }
        cur = await conn.execute(q("create_password_reset"), params)
        return await cur.fetchone() is not None


async def find_password_reset_by_token(
    conn: AsyncConnection, token_hash: str
) -> PasswordReset | None:
    row: PasswordReset | None = await fetch_one(
        conn, PasswordReset, "find_password_reset_by_token", {"token_hash": token_hash}
    )
    return row


async def use_password_reset(conn: AsyncConnection, reset: PasswordReset) -> None:
    """Marks this link used and every other open link of the same user expired."""
    await conn.execute(
        q("mark_password_reset_used"), {"reset_id": reset.id, "user_id": reset.user_id}
    )
    await conn.execute(q("expire_password_resets"), {"user_id": reset.user_id})


async def find_user_by_email(conn: AsyncConnection, email: str) -> User | None:
    """Crosses tenants: for the command line and platform admins only."""
    row: User | None = await fetch_one(conn, User, "find_user_by_email", {"email": email})
    return row


async def list_tenants(conn: AsyncConnection) -> list[TenantSummary]:
    """Crosses tenants: for platform admins only."""
    return await fetch_all(conn, TenantSummary, "list_tenants", {})
