"""Tenants, users, events, participants and displays; every tenant-owned query is scoped."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import astuple, replace
from datetime import date

import psycopg
from psycopg import AsyncConnection

from app.db.queries import fetch_all, fetch_one, q
from app.domain.catalog import (
    Display,
    Event,
    EventLocation,
    Participant,
    ParticipantIn,
    Tenant,
    User,
)
from app.domain.display_pipeline import Entrant
from app.domain.errors import Conflict, NotFound
from app.domain.reads import normalize_tag


async def create_tenant(conn: AsyncConnection, slug: str, name: str) -> Tenant:
    try:
        row: Tenant = await fetch_one(conn, Tenant, "create_tenant", {"slug": slug, "name": name})
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a tenant named {slug!r} exists already") from exc
    return row


async def get_tenant_by_slug(conn: AsyncConnection, slug: str) -> Tenant | None:
    row: Tenant | None = await fetch_one(conn, Tenant, "get_tenant_by_slug", {"slug": slug})
    return row


async def create_user(
    conn: AsyncConnection,
    *,
    tenant_id: int | None,
    email: str,
    password_hash: str,
    role: str,
    display_name: str = "",
) -> User:
    params = {
        "tenant_id": tenant_id,
        "email": email,
        "password_hash": password_hash,
        "role": role,
        "display_name": display_name,
    }
    try:
        row: User = await fetch_one(conn, User, "create_user", params)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a user with e-mail {email!r} exists already") from exc
    return row


async def get_user_for_login(conn: AsyncConnection, email: str) -> tuple[User, str] | None:
    cur = await conn.execute(q("get_user_for_login"), {"email": email})
    row = await cur.fetchone()
    if row is None:
        return None
    *fields, password_hash = row
    return User(*fields), password_hash


async def get_user_with_hash(conn: AsyncConnection, user_id: int) -> tuple[User, str] | None:
    cur = await conn.execute(q("get_user_with_hash"), {"user_id": user_id})
    row = await cur.fetchone()
    if row is None:
        return None
    *fields, password_hash = row
    return User(*fields), password_hash


async def get_user(conn: AsyncConnection, user_id: int) -> User | None:
    row: User | None = await fetch_one(conn, User, "get_user", {"user_id": user_id})
    return row


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(q("set_password_hash"), {"user_id": user_id, "password_hash": password_hash})


async def create_event(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    name: str,
    event_date: date | None = None,
    time_zone: str = "UTC",
    ct_event_id: str | None = None,
    provider_key: str | None = None,
    min_finish_s: int = 0,
) -> Event:
    params = {
        "tenant_id": tenant_id,
        "name": name,
        "event_date": event_date,
        "time_zone": time_zone,
        "ct_event_id": ct_event_id,
        "provider_key": provider_key,
        "min_finish_s": min_finish_s,
    }
    try:
        row: Event = await fetch_one(conn, Event, "create_event", params)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("that provider key is taken; try again") from exc
    return row


async def get_event(conn: AsyncConnection, tenant_id: int, event_id: int) -> Event | None:
    row: Event | None = await fetch_one(
        conn, Event, "get_event", {"tenant_id": tenant_id, "event_id": event_id}
    )
    return row


async def list_events(
    conn: AsyncConnection, tenant_id: int, *, include_archived: bool = False
) -> list[Event]:
    return await fetch_all(
        conn, Event, "list_events", {"tenant_id": tenant_id, "include_archived": include_archived}
    )


async def update_event(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    event_id: int,
    name: str,
    event_date: date | None,
    time_zone: str,
    ct_event_id: str | None,
    min_finish_s: int = 0,
) -> Event | None:
    """None when the event is not the tenant's or is archived (read-only)."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "name": name,
        "event_date": event_date,
        "time_zone": time_zone,
        "ct_event_id": ct_event_id,
        "min_finish_s": min_finish_s,
    }
    row: Event | None = await fetch_one(conn, Event, "update_event", params)
    return row


async def set_event_provider_key(
    conn: AsyncConnection, tenant_id: int, event_id: int, provider_key: str
) -> bool:
    params = {"tenant_id": tenant_id, "event_id": event_id, "provider_key": provider_key}
    try:
        cur = await conn.execute(q("set_event_provider_key"), params)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict("that provider key is taken; try again") from exc
    return await cur.fetchone() is not None


async def set_event_archived(
    conn: AsyncConnection, tenant_id: int, event_id: int, archived: bool
) -> bool:
    params = {"tenant_id": tenant_id, "event_id": event_id, "archived": archived}
    cur = await conn.execute(q("set_event_archived"), params)
    return await cur.fetchone() is not None


async def lock_event(conn: AsyncConnection, tenant_id: int, event_id: int) -> Event | None:
    """The event, locked until the transaction ends (the caller is in one)."""
    row: Event | None = await fetch_one(
        conn, Event, "lock_event", {"tenant_id": tenant_id, "event_id": event_id}
    )
    return row


async def lock_event_tag_mode(conn: AsyncConnection, tenant_id: int, event_id: int) -> str | None:
    """The event's tag mode, held for the caller's transaction: chips written in it use this mode.

    None when the event is not the tenant's. Every writer of chip codes reads the mode this way,
    so a mode change (which takes lock_event and then counts chips) waits for them and sees them.
    """
    cur = await conn.execute(
        q("lock_event_tag_mode"), {"tenant_id": tenant_id, "event_id": event_id}
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def count_event_chips(conn: AsyncConnection, tenant_id: int, event_id: int) -> int:
    """Distinct chip codes stored for the event: registered chips and chip-file chips."""
    cur = await conn.execute(q("count_event_chips"), {"tenant_id": tenant_id, "event_id": event_id})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def set_event_tag_mode(
    conn: AsyncConnection, tenant_id: int, event_id: int, tag_mode: str
) -> Event | None:
    """None when the event is not the tenant's or is archived; the caller checks for chips."""
    params = {"tenant_id": tenant_id, "event_id": event_id, "tag_mode": tag_mode}
    row: Event | None = await fetch_one(conn, Event, "set_event_tag_mode", params)
    return row


async def list_event_locations(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> list[EventLocation]:
    return await fetch_all(
        conn, EventLocation, "list_event_locations", {"tenant_id": tenant_id, "event_id": event_id}
    )


async def replace_event_locations(
    conn: AsyncConnection, tenant_id: int, event_id: int, locations: Sequence[EventLocation]
) -> None:
    """The event's locations become exactly these, in this order (the caller checks the event)."""
    scope = {"tenant_id": tenant_id, "event_id": event_id}
    async with conn.transaction():
        await conn.execute(q("delete_event_locations"), scope)
        if locations:
            await conn.execute(
                q("insert_event_locations"),
                {
                    **scope,
                    "names": [loc.name for loc in locations],
                    "kinds": [loc.kind for loc in locations],
                    "positions": list(range(len(locations))),
                },
            )


async def upsert_participants(
    conn: AsyncConnection, tenant_id: int, event_id: int, rows: Iterable[ParticipantIn]
) -> None:
    """COPY participants into staging, then upsert them and their chips by bib.

    Chips are stored normalised under the event's tag mode, so a read's tag normalised the
    same way finds them by the primary key.
    """
    scope = {"tenant_id": tenant_id, "event_id": event_id}
    async with conn.transaction():
        mode = await lock_event_tag_mode(conn, tenant_id, event_id)
        if mode is None:
            raise NotFound("There is no such event.")
        await conn.execute(q("create_participant_staging"))
        async with conn.cursor() as cur, cur.copy(q("copy_participant_staging")) as copy:
            for row in rows:
                chip = normalize_tag(row.chip_code, mode)
                await copy.write_row(astuple(replace(row, chip_code=chip)))
        await conn.execute(q("upsert_staged_participants"), scope)
        await conn.execute(q("upsert_staged_chips"), scope)


async def count_participants(conn: AsyncConnection, tenant_id: int, event_id: int) -> int:
    cur = await conn.execute(
        q("count_participants"), {"tenant_id": tenant_id, "event_id": event_id}
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def upsert_chip_bibs(
    conn: AsyncConnection, tenant_id: int, event_id: int, pairs: Sequence[tuple[str, str]]
) -> None:
    """Chip → bib pairs of a chip file, chips normalised under the event's tag mode (the caller
    read it with lock_event_tag_mode in this transaction); a chip imported again moves bib."""
    params = [
        {"tenant_id": tenant_id, "event_id": event_id, "chip_code": chip, "bib": bib}
        for chip, bib in pairs
    ]
    async with conn.cursor() as cur:
        await cur.executemany(q("upsert_chip_bib"), params)


async def participants_by_chip(
    conn: AsyncConnection, tenant_id: int, event_id: int, chip_codes: Sequence[str]
) -> dict[str, Participant]:
    """Participants by chip code normalised under the event's tag mode (normalize_tag)."""
    if not chip_codes:
        return {}
    rows: list[Participant] = await fetch_all(
        conn,
        Participant,
        "participants_by_chip",
        {"tenant_id": tenant_id, "event_id": event_id, "chip_codes": list(chip_codes)},
    )
    return {p.chip_code: p for p in rows}


async def create_display(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    event_id: int,
    code: str,
    name: str,
    locations: Sequence[str] = (),
) -> Display:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "code": code,
        "name": name,
        "locations": list(locations),
    }
    row: Display = await fetch_one(conn, Display, "create_display", params)
    return row


async def get_display_by_code(conn: AsyncConnection, code: str) -> Display | None:
    row: Display | None = await fetch_one(conn, Display, "get_display_by_code", {"code": code})
    return row


async def list_displays(conn: AsyncConnection, tenant_id: int, event_id: int) -> list[Display]:
    return await fetch_all(
        conn, Display, "list_displays", {"tenant_id": tenant_id, "event_id": event_id}
    )


async def set_display_show_unknown(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int, show_unknown: bool
) -> Display | None:
    """None when no live display of that id belongs to the tenant's event."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "display_id": display_id,
        "show_unknown": show_unknown,
    }
    row: Display | None = await fetch_one(conn, Display, "set_display_show_unknown", params)
    return row


async def ping(conn: AsyncConnection) -> bool:
    """A round trip to the server, for health checks."""
    cur = await conn.execute(q("ping"))
    return await cur.fetchone() == (1,)


async def event_entrants(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> list[tuple[str, Entrant]]:
    """(normalised chip, entrant) for every chip that names one of the event's participants."""
    cur = await conn.execute(q("event_entrants"), {"tenant_id": tenant_id, "event_id": event_id})
    return [
        (chip, Entrant(pid, bib, first, last, gender, age, sub, vip, city, team, _custom(custom)))
        for chip, pid, bib, first, last, gender, age, sub, vip, city, team, custom in (
            await cur.fetchall()
        )
    ]


def _custom(raw: object) -> tuple[tuple[str, str], ...]:
    """A participant's custom jsonb as sorted (name, text) pairs; nested values as JSON."""
    if not isinstance(raw, dict):
        return ()
    return tuple(
        sorted(
            (str(k), v if isinstance(v, str) else json.dumps(v))
            for k, v in raw.items()
            if v is not None and v != ""
        )
    )


async def event_entrants_version(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> tuple[object, ...]:
    """A value that changes whenever event_entrants would."""
    params = {"tenant_id": tenant_id, "event_id": event_id}
    cur = await conn.execute(q("event_entrants_version"), params)
    return tuple(await cur.fetchone() or ())
