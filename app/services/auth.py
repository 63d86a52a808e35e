"""Passwords (argon2) and logins: who is asking, and for which tenant."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.db import catalog
from app.db.pool import Pool, connection
from app.domain.catalog import User
from app.domain.errors import Unauthorized

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs as long as a wrong password
# and response times do not reveal which addresses have accounts.
_DECOY_HASH = _hasher.hash("decoy password that matches no account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(pool: Pool, email: str, password: str) -> User | None:
    """The user these credentials belong to, or None; never says which half was wrong."""
    async with connection(pool) as conn:
        found = await catalog.get_user_for_login(conn, email.strip())
    if found is None:
        # argon2 is deliberately slow: keep it off the event loop.
        await asyncio.to_thread(verify_password, password, _DECOY_HASH)
        return None
    user, password_hash = found
    if not await asyncio.to_thread(verify_password, password, password_hash):
        return None
    if _hasher.check_needs_rehash(password_hash):
        new_hash = await asyncio.to_thread(hash_password, password)
        async with connection(pool) as conn:
            await catalog.set_password_hash(conn, user.id, new_hash)
    return user


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


async def credential_stamp(pool: Pool, user_id: int) -> str:
    """A stamp of the user's password as it is now, kept in each session at sign-in.

    A new password changes it, so a password reset signs the user out everywhere else.
    """
    async with connection(pool) as conn:
        found = await catalog.get_user_with_hash(conn, user_id)
    if found is None:
        raise Unauthorized("please sign in")
    return _stamp(found[1])


async def current_user(pool: Pool, user_id: object, stamp: object) -> User:
    """The signed-in user of a session; Unauthorized when the user is gone or their password
    changed since the session began."""
    if not isinstance(user_id, int) or not isinstance(stamp, str):
        raise Unauthorized("please sign in")
    async with connection(pool) as conn:
        found = await catalog.get_user_with_hash(conn, user_id)
    if found is None or not hmac.compare_digest(stamp, _stamp(found[1])):
        raise Unauthorized("please sign in")
    return found[0]
