"""Signing in with throttling per account and per address, and the audit trail of it."""

from __future__ import annotations

from dataclasses import dataclass

from app.db import audit, catalog, login_failures
from app.db.pool import Pool, connection
from app.domain.catalog import User
from app.services import auth


@dataclass(frozen=True, slots=True)
class Throttle:
    """Failures allowed in a sliding window before sign-in is refused for a while."""

    per_account: int = 5
    per_address: int = 20
    window_s: int = 15 * 60


DEFAULT_THROTTLE = Throttle()


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    # Above zero: refused without checking the password; try again after this many seconds.
    retry_after_s: int = 0


async def _owner_of(pool: Pool, email: str) -> User | None:
    """Whose account an attempt aimed at, so its tenant sees the failures in its audit log."""
    async with connection(pool) as conn:
        found = await catalog.get_user_for_login(conn, email)
    return None if found is None else found[0]


async def sign_in(
    pool: Pool, email: str, password: str, ip: str, throttle: Throttle = DEFAULT_THROTTLE
) -> LoginResult:
    account = email.strip().lower()
    async with connection(pool) as conn:
        wait = max(
            await login_failures.email_wait_s(
                conn, account, limit=throttle.per_account, window_s=throttle.window_s
            ),
            await login_failures.ip_wait_s(
                conn, ip, limit=throttle.per_address, window_s=throttle.window_s
            ),
        )
    if wait:
        target = await _owner_of(pool, account)
        async with connection(pool) as conn:
            await audit.record(
                conn,
                tenant_id=target.tenant_id if target else None,
                user_id=target.id if target else None,
                action="login.throttled",
                detail={"email": account, "retry_after_s": wait},
                ip=ip,
            )
        return LoginResult(None, wait)

    user = await auth.authenticate(pool, account, password)
    if user is None:
        target = await _owner_of(pool, account)
        async with connection(pool) as conn, conn.transaction():
            await login_failures.record(conn, email=account, ip=ip)
            await audit.record(
                conn,
                tenant_id=target.tenant_id if target else None,
                user_id=target.id if target else None,
                action="login.failure",
                detail={"email": account},
                ip=ip,
            )
            await login_failures.purge_older_than(conn, throttle.window_s)
        return LoginResult(None)

    async with connection(pool) as conn, conn.transaction():
        await login_failures.clear_for_email(conn, account)
        await audit.record(
            conn, tenant_id=user.tenant_id, user_id=user.id, action="login.success", ip=ip
        )
    return LoginResult(user)


async def signed_out(pool: Pool, user_id: object, ip: str) -> None:
    """Record a sign-out of whoever the session belonged to (nothing if nobody)."""
    if not isinstance(user_id, int):
        return
    async with connection(pool) as conn:
        user = await catalog.get_user(conn, user_id)
        if user is not None:
            await audit.record(
                conn, tenant_id=user.tenant_id, user_id=user.id, action="logout", ip=ip
            )
