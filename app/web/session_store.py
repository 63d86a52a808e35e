"""Server-side sessions: Litestar stores over PostgreSQL or Redis, and a backend that rotates ids.

The cookie carries only a random session id; the store keys rows by its SHA-256, so a copy
of the table (or of Redis) holds nothing a browser could present. An id the store does not
know is never adopted: data is only ever saved under an id this server generated, and a
sign-in (`renew_session`) always moves the session to a fresh id and deletes the old one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

from app.db import web_sessions
from app.db.pool import Pool, connection
from app.pubsub.kv import RedisKV

# Expired rows are invisible at once; deleting them is housekeeping done at most this often.
PURGE_EVERY_S = 600
# Where the backend keeps the session bytes as loaded, to skip writes that change nothing.
_LOADED = "racedisplay.session_loaded"


def _seconds(value: int | timedelta | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


class PostgresSessionStore(Store):
    """web_sessions rows; the pool is looked up per call because it opens in the lifespan."""

    def __init__(self, get_pool: Callable[[], Pool], default_expires_s: int) -> None:
        self._get_pool = get_pool
        self._default_expires_s = default_expires_s
        self._last_purge = 0.0

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        expires_s = _seconds(expires_in) or self._default_expires_s
        async with connection(self._get_pool()) as conn:
            await web_sessions.put(conn, key, data, expires_s)
            if time.monotonic() - self._last_purge > PURGE_EVERY_S:
                self._last_purge = time.monotonic()
                await web_sessions.purge_expired(conn)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        async with connection(self._get_pool()) as conn:
            return await web_sessions.get(conn, key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        async with connection(self._get_pool()) as conn:
            await web_sessions.delete(conn, key)

    async def delete_all(self) -> None:
        async with connection(self._get_pool()) as conn:
            await web_sessions.delete_all(conn)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with connection(self._get_pool()) as conn:
            return await web_sessions.expires_in(conn, key)

    async def purge_expired(self) -> int:
        async with connection(self._get_pool()) as conn:
            return await web_sessions.purge_expired(conn)


class RedisSessionStore(Store):
    """Keys in Redis with a TTL: Redis expires them itself, nothing to purge."""

    def __init__(self, kv: RedisKV, default_expires_s: int) -> None:
        self.kv = kv
        self._default_expires_s = default_expires_s

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        await self.kv.set(key, data, _seconds(expires_in) or self._default_expires_s)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await self.kv.get(key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        await self.kv.delete(key)

    async def delete_all(self) -> None:
        await self.kv.delete_all()

    async def exists(self, key: str) -> bool:
        return await self.kv.exists(key)

    async def expires_in(self, key: str) -> int | None:
        return await self.kv.expires_in(key)


def session_key(session_id: str) -> str:
    """What the store is keyed by: never the cookie value itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def renew_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session with data under a new id (after sign-in: no session fixation)."""
    connection.clear_session()
    connection.set_session(data)


class SessionBackend(ServerSideSessionBackend):
    async def get(self, session_id: str, store: Store) -> bytes | None:
        return await super().get(session_key(session_id), store)

    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        await super().set(session_key(session_id), data, store)

    async def delete(self, session_id: str, store: Store) -> None:
        await super().delete(session_key(session_id), store)

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        if session_id and session_id != "null":
            store = self.config.get_store_from_app(connection.scope["app"])
            data = await self.get(session_id, store=store)
            if data is not None:
                connection.scope["state"][_LOADED] = data
                return self.deserialize_data(data)
        return {}

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_id = connection.cookies.get(self.config.key)
        if cookie_id == "null":
            cookie_id = None
        loaded: bytes | None = connection.scope["state"].get(_LOADED)
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )

        if scope_session is Empty or not scope_session:
            # Signed out (or never signed in): the server forgets the id, the browser too.
            if cookie_id:
                await self.delete(cookie_id, store=store)
                cookie = Cookie(value="null", key=self.config.key, expires=0, **params)
                headers.add("Set-Cookie", cookie.to_header(header=""))
            return

        data = self.serialize_data(scope_session, connection.scope)
        # clear_session() during the request empties the id: renew_session asked for a new one.
        renewing = connection.get_session_id() is None
        if renewing or cookie_id is None or loaded is None:
            if cookie_id:
                await self.delete(cookie_id, store=store)
            new_id = self.generate_session_id()
            await self.set(new_id, data, store=store)
            headers.add(
                "Set-Cookie",
                Cookie(value=new_id, key=self.config.key, **params).to_header(header=""),
            )
        elif data != loaded:
            await self.set(cookie_id, data, store=store)


@dataclass
class SessionConfig(ServerSideSessionConfig):
    _backend_class = SessionBackend
