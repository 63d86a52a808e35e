"""Display message queues (the event's and each display's); every query is tenant-scoped."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import AsyncConnection

from app.db.queries import fetch_all, fetch_one, q
from app.domain.errors import InvalidInput
from app.domain.messages import Message, MessageText, Schedule


def _scope(tenant_id: int, event_id: int) -> dict[str, object]:
    return {"tenant_id": tenant_id, "event_id": event_id}


async def list_event_messages(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> list[Message]:
    """Every message of the event's queues: the event's first, then each display's, in order."""
    return await fetch_all(conn, Message, "list_event_messages", _scope(tenant_id, event_id))


async def list_display_messages(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int
) -> list[Message]:
    """The messages one display can show: its event's queue and its own, any schedule."""
    params = {**_scope(tenant_id, event_id), "display_id": display_id}
    return await fetch_all(conn, Message, "list_display_messages", params)


async def get_message(
    conn: AsyncConnection, tenant_id: int, event_id: int, message_id: int
) -> Message | None:
    params = {**_scope(tenant_id, event_id), "message_id": message_id}
    row: Message | None = await fetch_one(conn, Message, "get_message", params)
    return row


async def lock_queue(
    conn: AsyncConnection, tenant_id: int, event_id: int, display_id: int | None
) -> list[int]:
    """The queue's message ids in order, locked until the caller's transaction ends."""
    params = {**_scope(tenant_id, event_id), "display_id": display_id}
    cur = await conn.execute(q("lock_message_queue"), params)
    return [int(row[0]) for row in await cur.fetchall()]


async def insert_message(
    conn: AsyncConnection,
    *,
    tenant_id: int,
    event_id: int,
    display_id: int | None,
    text: MessageText,
    schedule: Schedule,
    created_by: int | None,
) -> Message:
    """A new message at the end of its queue (the caller checked the event and display)."""
    params = {
        **_scope(tenant_id, event_id),
        "display_id": display_id,
        "body": text.body,
        "style": text.style,
        "seconds": text.seconds,
        "show_from": schedule.show_from,
        "show_until": schedule.show_until,
        "created_by": created_by,
    }
    try:
        row: Message = await fetch_one(conn, Message, "insert_message", params)
    except psycopg.errors.ForeignKeyViolation as exc:
        # The display was revoked or removed between the check and the insert.
        raise InvalidInput("That display is no longer part of this event.") from exc
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput("That message does not fit the rules for messages.") from exc
    return row


async def update_text(
    conn: AsyncConnection, tenant_id: int, event_id: int, message_id: int, text: MessageText
) -> Message | None:
    """None when the message is not the event's (or the tenant's)."""
    params = {
        **_scope(tenant_id, event_id),
        "message_id": message_id,
        "body": text.body,
        "style": text.style,
        "seconds": text.seconds,
    }
    try:
        row: Message | None = await fetch_one(conn, Message, "update_message_text", params)
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput("That message does not fit the rules for messages.") from exc
    return row


async def update_schedule(
    conn: AsyncConnection, tenant_id: int, event_id: int, message_id: int, schedule: Schedule
) -> Message | None:
    """None when the message is not the event's (or the tenant's)."""
    params = {
        **_scope(tenant_id, event_id),
        "message_id": message_id,
        "show_from": schedule.show_from,
        "show_until": schedule.show_until,
    }
    try:
        row: Message | None = await fetch_one(conn, Message, "update_message_schedule", params)
    except psycopg.errors.CheckViolation as exc:
        raise InvalidInput("A message has to end after it starts.") from exc
    return row


async def set_positions(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    display_id: int | None,
    ids: Sequence[int],
) -> None:
    """The queue's order becomes `ids` (the caller holds lock_queue in this transaction)."""
    params = {**_scope(tenant_id, event_id), "display_id": display_id, "ids": list(ids)}
    await conn.execute(q("set_message_positions"), params)


async def delete_message(
    conn: AsyncConnection, tenant_id: int, event_id: int, message_id: int
) -> bool:
    params = {**_scope(tenant_id, event_id), "message_id": message_id}
    cur = await conn.execute(q("delete_message"), params)
    return await cur.fetchone() is not None
