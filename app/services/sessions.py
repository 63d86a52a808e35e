"""The session picker: a tenant's timing sessions, and the unclaimed ones for platform admins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from app.db import audit, catalog
from app.db import timing_sessions as sessions_db
from app.db.pool import Pool, connection, tenant_connection
from app.db.timing import SessionStats
from app.domain.catalog import Event, User
from app.domain.errors import InvalidInput, NotFound
from app.services.operations import fetch_status

log = logging.getLogger(__name__)

_SESSION_NOT_FOUND = "There is no such timing session."
PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True, slots=True)
class Connected:
    """Which sessions of one event a provider is connected to now, per the collector.

    reachable False: the collector did not answer; the page says so and shows session status.
    """

    reachable: bool
    session_ids: frozenset[int]

    def of(self, session: SessionStats) -> bool | None:
        return (session.id in self.session_ids) if self.reachable else None


@dataclass(frozen=True, slots=True)
class SessionPage:
    session: SessionStats
    event: Event | None
    # The tenant's live events it can be moved to.
    events: list[Event]


async def connected_sessions(status_url: str, tenant_id: int, event_id: int) -> Connected:
    """Asks the collector's /status for the event's providers; degrades to unreachable."""
    try:
        status = await fetch_status(status_url, event_id)
        providers = status.get("providers") if isinstance(status, dict) else None
        if not isinstance(providers, list):
            raise ValueError("the answer has no list of providers")
    except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, ValueError) as exc:
        log.info("collector status from %s: %s: %s", status_url, type(exc).__name__, exc)
        return Connected(False, frozenset())
    ids = frozenset(
        p["session_id"]
        for p in providers
        if isinstance(p, dict)
        and type(p.get("session_id")) is int
        and p.get("tenant_id") == tenant_id
        and p.get("event_id") == event_id
    )
    return Connected(True, ids)


def _found(session: SessionStats | None) -> SessionStats:
    # Another tenant's session looks exactly like a missing one.
    if session is None:
        raise NotFound(_SESSION_NOT_FOUND)
    return session


async def session_page(pool: Pool, tenant_id: int, session_id: int) -> SessionPage:
    async with tenant_connection(pool, tenant_id) as conn:
        session = _found(await sessions_db.get_session(conn, tenant_id, session_id))
        event = (
            await catalog.get_event(conn, tenant_id, session.event_id)
            if session.event_id is not None
            else None
        )
        events = await catalog.list_events(conn, tenant_id)
    return SessionPage(session, event, events)


async def move(pool: Pool, tenant_id: int, session_id: int, event_id: int) -> None:
    """Feed another live event of the tenant; the collector publishes there within seconds."""
    async with tenant_connection(pool, tenant_id) as conn:
        _found(await sessions_db.get_session(conn, tenant_id, session_id))
        event = await catalog.get_event(conn, tenant_id, event_id)
        if event is None:
            raise NotFound("There is no such event.")
        if event.archived:
            raise InvalidInput("That event is archived; restore it before feeding it.")
        if not await sessions_db.move_session(conn, tenant_id, session_id, event.id):
            raise NotFound(_SESSION_NOT_FOUND)


async def detach(pool: Pool, tenant_id: int, session_id: int) -> SessionStats:
    async with tenant_connection(pool, tenant_id) as conn:
        session = _found(await sessions_db.get_session(conn, tenant_id, session_id))
        await sessions_db.detach_session(conn, tenant_id, session_id)
        return session


async def rename(pool: Pool, tenant_id: int, session_id: int, display_name: str) -> None:
    name = display_name.strip()
    if len(name) > 100:
        raise InvalidInput("Keep the session name under 100 characters.")
    async with tenant_connection(pool, tenant_id) as conn:
        if not await sessions_db.rename_session(conn, tenant_id, session_id, name):
            raise NotFound(_SESSION_NOT_FOUND)


async def end(pool: Pool, tenant_id: int, session_id: int, *, user_id: int, ip: str = "") -> None:
    async with tenant_connection(pool, tenant_id) as conn:
        session = _found(await sessions_db.get_session(conn, tenant_id, session_id))
        if not await sessions_db.end_session(conn, tenant_id, session_id):
            raise InvalidInput("This session is archived; it cannot be ended.")
        await _audit(conn, tenant_id, user_id, ip, "session.end", session)


async def archive(
    pool: Pool, tenant_id: int, session_id: int, *, user_id: int, ip: str = ""
) -> None:
    async with tenant_connection(pool, tenant_id) as conn:
        session = _found(await sessions_db.get_session(conn, tenant_id, session_id))
        await sessions_db.archive_session(conn, tenant_id, session_id)
        await _audit(conn, tenant_id, user_id, ip, "session.archive", session)


async def _audit(
    conn: Any, tenant_id: int | None, user_id: int, ip: str, action: str, s: SessionStats
) -> None:
    detail: dict[str, object] = {"session_id": s.id, "session_name": s.session_name}
    await audit.record(
        conn, tenant_id=tenant_id, user_id=user_id, action=action, detail=detail, ip=ip
    )


# -- platform admins ---------------------------------------------------------------------


def require_platform_admin(user: User) -> None:
    """Anyone else gets the answer a missing page gets."""
    if user.role != PLATFORM_ADMIN or user.tenant_id is not None:
        raise NotFound("There is no page at this address.")


async def unclaimed(pool: Pool, user: User) -> list[SessionStats]:
    require_platform_admin(user)
    async with connection(pool) as conn:
        return await sessions_db.unclaimed_sessions(conn)


async def assign(pool: Pool, user: User, session_id: int, event_id: int, ip: str = "") -> str:
    """Give an unclaimed session to any tenant's live event; returns what to tell the admin."""
    require_platform_admin(user)
    async with connection(pool) as conn, conn.transaction():
        label = await sessions_db.live_event_label(conn, event_id)
        if label is None:
            raise InvalidInput(f"There is no live event {event_id}.")
        claimed = await sessions_db.assign_unclaimed_session(conn, session_id, event_id)
        if claimed is None:
            raise InvalidInput(f"Session {session_id} is not unclaimed (or does not exist).")
        tenant_id, _ = claimed
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user.id,
            action="session.assign",
            detail={"session_id": session_id, "event_id": event_id},
            ip=ip,
        )
    event_name, tenant_name = label
    return f"Session {session_id} now feeds {event_name} ({tenant_name})."
