"""Provider accounts (encrypted credentials) and event syncs: rows, claims and run outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.db.queries import fetch_all, fetch_one, q

# A run marked running for longer than this is taken to have died with its worker.
STALE_RUN_S = 3600


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """A tenant's login at a provider; the encrypted secret is deliberately not a field."""

    id: int
    tenant_id: int
    provider: str
    label: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventSync:
    id: int
    tenant_id: int
    event_id: int
    account_id: int
    provider: str
    account_label: str
    race_id: str
    race_name: str
    # Provider sub-event id -> the sub-event name it gets here; ids not listed are left out.
    sub_events: dict[str, str]
    every_minutes: int | None
    until_at: datetime | None
    next_run_at: datetime | None
    cursor_at: datetime | None
    state: str
    progress: int
    counts: dict[str, Any] | None
    message: str
    last_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedSync:
    id: int
    tenant_id: int


async def insert_account(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    provider: str,
    label: str,
    secret: bytes,
    created_by: int | None,
) -> ProviderAccount:
    params = {
        "tenant_id": tenant_id,
        "provider": provider,
        "label": label,
        "secret": secret,
        "created_by": created_by,
    }
    row: ProviderAccount = await fetch_one(conn, ProviderAccount, "insert_provider_account", params)
    return row


async def list_accounts(conn: AsyncConnection, tenant_id: int) -> list[ProviderAccount]:
    return await fetch_all(
        conn, ProviderAccount, "list_provider_accounts", {"tenant_id": tenant_id}
    )


async def get_account(
    conn: AsyncConnection, tenant_id: int, account_id: int
) -> ProviderAccount | None:
    params = {"tenant_id": tenant_id, "account_id": account_id}
    row: ProviderAccount | None = await fetch_one(
        conn, ProviderAccount, "get_provider_account", params
    )
    return row


async def get_account_secret(
    conn: AsyncConnection, tenant_id: int, account_id: int
) -> bytes | None:
    cur = await conn.execute(
        q("get_provider_account_secret"), {"tenant_id": tenant_id, "account_id": account_id}
    )
    row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def delete_account(conn: AsyncConnection, tenant_id: int, account_id: int) -> bool:
    cur = await conn.execute(
        q("delete_provider_account"), {"tenant_id": tenant_id, "account_id": account_id}
    )
    return await cur.fetchone() is not None


async def upsert_sync(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    *,
    account_id: int,
    race_id: str,
    race_name: str,
    sub_events: Mapping[str, str],
    until_at: datetime | None,
) -> int:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "account_id": account_id,
        "race_id": race_id,
        "race_name": race_name,
        "sub_events": Jsonb(dict(sub_events)),
        "until_at": until_at,
    }
    cur = await conn.execute(q("upsert_event_sync"), params)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def find_sync(
    conn: AsyncConnection, tenant_id: int, event_id: int, account_id: int, race_id: str
) -> int | None:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "account_id": account_id,
        "race_id": race_id,
    }
    cur = await conn.execute(q("find_event_sync"), params)
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def list_syncs(conn: AsyncConnection, tenant_id: int, event_id: int) -> list[EventSync]:
    params = {"tenant_id": tenant_id, "event_id": event_id}
    return await fetch_all(conn, EventSync, "list_event_syncs", params)


async def get_sync(
    conn: AsyncConnection, tenant_id: int, sync_id: int, event_id: int | None = None
) -> EventSync | None:
    params = {"tenant_id": tenant_id, "sync_id": sync_id, "event_id": event_id}
    row: EventSync | None = await fetch_one(conn, EventSync, "get_event_sync", params)
    return row


async def set_schedule(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    sync_id: int,
    *,
    every_minutes: int | None,
    until_at: datetime | None,
    next_run_at: datetime | None,
) -> bool:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "sync_id": sync_id,
        "every_minutes": every_minutes,
        "until_at": until_at,
        "next_run_at": next_run_at,
    }
    cur = await conn.execute(q("set_event_sync_schedule"), params)
    return await cur.fetchone() is not None


async def delete_sync(conn: AsyncConnection, tenant_id: int, event_id: int, sync_id: int) -> bool:
    params = {"tenant_id": tenant_id, "event_id": event_id, "sync_id": sync_id}
    cur = await conn.execute(q("delete_event_sync"), params)
    return await cur.fetchone() is not None


async def claim_sync(
    conn: AsyncConnection, tenant_id: int, sync_id: int, *, stale_s: int = STALE_RUN_S
) -> bool:
    """Mark one sync running; False when it is running already (or not this tenant's)."""
    params = {"tenant_id": tenant_id, "sync_id": sync_id, "stale_s": stale_s}
    cur = await conn.execute(q("claim_event_sync"), params)
    return await cur.fetchone() is not None


async def claim_due_syncs(
    conn: AsyncConnection, *, limit: int = 10, stale_s: int = STALE_RUN_S
) -> list[ClaimedSync]:
    """Due syncs of every tenant, marked running; run on an owner connection, in autocommit
    or a short transaction, so the claim is visible to other workers at once."""
    params = {"limit": limit, "stale_s": stale_s}
    return await fetch_all(conn, ClaimedSync, "claim_due_syncs", params)


async def set_progress(conn: AsyncConnection, tenant_id: int, sync_id: int, progress: int) -> None:
    params = {"tenant_id": tenant_id, "sync_id": sync_id, "progress": progress}
    await conn.execute(q("set_sync_progress"), params)


async def finish_done(
    conn: AsyncConnection,
    tenant_id: int,
    sync_id: int,
    *,
    progress: int,
    counts: Mapping[str, Any],
    message: str,
    cursor_at: datetime | None,
) -> None:
    params = {
        "tenant_id": tenant_id,
        "sync_id": sync_id,
        "progress": progress,
        "counts": Jsonb(dict(counts)),
        "message": message,
        "cursor_at": cursor_at,
    }
    await conn.execute(q("finish_sync_done"), params)


async def finish_failed(
    conn: AsyncConnection, tenant_id: int, sync_id: int, *, progress: int, message: str
) -> None:
    params = {"tenant_id": tenant_id, "sync_id": sync_id, "progress": progress, "message": message}
    await conn.execute(q("finish_sync_failed"), params)
