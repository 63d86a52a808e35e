"""Message queues of an event and its displays: add, edit, schedule, reorder and remove, each
tenant-scoped and audited, each announced on the bus; and what a display shows now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.db import audit, catalog
from app.db import messages as db
from app.db.pool import Connection, Pool, tenant_connection
from app.domain import messages as rules
from app.domain.catalog import Display, Event
from app.domain.errors import InvalidInput, NotFound
from app.domain.messages import FULLSCREEN, TICKER, Change, Message
from app.pubsub import Bus
from app.services.events import check_writable, find_event

log = logging.getLogger(__name__)

_NO_MESSAGE = "There is no such message."
_NO_DISPLAY = "There is no such display."
# A notification is a courtesy to open screens (they also poll); a stuck bus must not hold
# up the director's request.
_PUBLISH_TIMEOUT_S = 2.0
# Audit entries quote this much of a message's text.
_AUDIT_EXCERPT = 80
EVENT_QUEUE = "event"


@dataclass(frozen=True, slots=True)
class Queue:
    """One message queue: the event's (display None) or one display's."""

    display: Display | None
    messages: list[Message]

    @property
    def key(self) -> str:
        """How forms name the queue: "event", or the display's id."""
        return EVENT_QUEUE if self.display is None else str(self.display.id)


@dataclass(frozen=True, slots=True)
class MessagesPage:
    event: Event
    displays: list[Display]
    # The event's queue first, then one per display (only the chosen one when filtered).
    queues: list[Queue]
    # The display the page is narrowed to, if any.
    shown_display: Display | None
    # With a display chosen: what it shows at `now`, in order.
    active: list[Message]
    now: datetime


@dataclass(frozen=True, slots=True)
class ActiveMessages:
    """What a display shows at one moment: its event's and its own messages, in order."""

    messages: list[Message]
    # Changes whenever what is shown changes (an ETag).
    version: str
    # The next schedule boundary, when the set may change without any edit.
    next_change: datetime | None

    @property
    def ticker(self) -> list[Message]:
        return [m for m in self.messages if m.style == TICKER]

    @property
    def fullscreen(self) -> list[Message]:
        return [m for m in self.messages if m.style == FULLSCREEN]


def parse_queue(value: str) -> int | None:
    """A form's queue field: blank or "event" is the event's queue, else a display id."""
    value = value.strip()
    if value in ("", EVENT_QUEUE):
        return None
    try:
        return int(value)
    except ValueError:
        raise NotFound(_NO_DISPLAY) from None


async def _display(conn: Connection, tenant_id: int, event_id: int, display_id: int) -> Display:
    """A live display of the event; a revoked, foreign or unknown one is NotFound alike."""
    for display in await catalog.list_displays(conn, tenant_id, event_id):
        if display.id == display_id:
            return display
    raise NotFound(_NO_DISPLAY)


async def _message(conn: Connection, tenant_id: int, event_id: int, message_id: int) -> Message:
    message = await db.get_message(conn, tenant_id, event_id, message_id)
    if message is None:
        raise NotFound(_NO_MESSAGE)
    return message


def _excerpt(body: str) -> str:
    return body if len(body) <= _AUDIT_EXCERPT else body[: _AUDIT_EXCERPT - 1] + "…"


async def _audit(
    conn: Connection,
    tenant_id: int,
    user_id: int | None,
    ip: str,
    action: str,
    message: Message,
    **extra: object,
) -> None:
    await audit.record(
        conn,
        tenant_id=tenant_id,
        user_id=user_id,
        action=f"message.{action}",
        detail={
            "event_id": message.event_id,
            "display_id": message.display_id,
            "message_id": message.id,
            "body": _excerpt(message.body),
            **extra,
        },
        ip=ip,
    )


async def _announce(bus: Bus | None, change: Change) -> None:
    """Tell open screens after the change is committed; a failure only costs them the wait
    until their next poll, so it is logged, never raised."""
    if bus is None:
        return
    try:
        async with asyncio.timeout(_PUBLISH_TIMEOUT_S):
            await bus.publish(rules.channel(change.event_id), change.to_json())
    except Exception as exc:
        log.warning("announcing a message change on event %s failed: %s", change.event_id, exc)


async def messages_page(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    display_id: int | None = None,
    *,
    now: datetime,
) -> MessagesPage:
    """The event's queue and its displays' queues (or one display's, with what it shows)."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        displays = await catalog.list_displays(conn, tenant_id, event.id)
        shown = None
        if display_id is not None:
            shown = next((d for d in displays if d.id == display_id), None)
            if shown is None:
                raise NotFound(_NO_DISPLAY)
        messages = await db.list_event_messages(conn, tenant_id, event.id)
    by_queue: dict[int | None, list[Message]] = {}
    for message in messages:
        by_queue.setdefault(message.display_id, []).append(message)
    listed = displays if shown is None else [shown]
    queues = [
        Queue(None, rules.ordered(by_queue.get(None, []))),
        *(Queue(d, rules.ordered(by_queue.get(d.id, []))) for d in listed),
    ]
    active = [] if shown is None else rules.active_at(messages, event.id, shown.id, now)
    return MessagesPage(event, displays, queues, shown, active, now)


async def add_message(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    *,
    queue: str = "",
    body: str,
    style: str = TICKER,
    seconds: str = "",
    show_from: str = "",
    show_until: str = "",
    user_id: int | None = None,
    ip: str = "",
) -> Message:
    """A message at the end of the event's queue or of one of its displays' queues."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        display_id = parse_queue(queue)
        if display_id is not None:
            await _display(conn, tenant_id, event.id, display_id)
        check_writable(event)
        text = rules.parse_text(body, style, seconds)
        schedule = rules.parse_schedule(show_from, show_until, event.time_zone)
        ids = await db.lock_queue(conn, tenant_id, event.id, display_id)
        if len(ids) >= rules.MAX_PER_QUEUE:
            raise InvalidInput(
                f"A queue holds at most {rules.MAX_PER_QUEUE} messages; remove old ones first."
            )
        message = await db.insert_message(
            conn,
            tenant_id=tenant_id,
            event_id=event.id,
            display_id=display_id,
            text=text,
            schedule=schedule,
            created_by=user_id,
        )
        await _audit(conn, tenant_id, user_id, ip, "add", message, style=message.style)
    await _announce(bus, Change(event.id, display_id, "added", message.id))
    return message


async def edit_message(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    message_id: int,
    *,
    body: str,
    style: str = TICKER,
    seconds: str = "",
    user_id: int | None = None,
    ip: str = "",
) -> Message:
    """New text, style or full-screen time; the message keeps its place and schedule."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        await _message(conn, tenant_id, event.id, message_id)
        check_writable(event)
        text = rules.parse_text(body, style, seconds)
        message = await db.update_text(conn, tenant_id, event.id, message_id, text)
        if message is None:
            raise NotFound(_NO_MESSAGE)
        await _audit(conn, tenant_id, user_id, ip, "edit", message, style=message.style)
    await _announce(bus, Change(event.id, message.display_id, "edited", message.id))
    return message


async def schedule_message(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    message_id: int,
    *,
    show_from: str = "",
    show_until: str = "",
    user_id: int | None = None,
    ip: str = "",
) -> Message:
    """When the message shows, typed in the event's time zone; blank: no bound on that side."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        await _message(conn, tenant_id, event.id, message_id)
        check_writable(event)
        schedule = rules.parse_schedule(show_from, show_until, event.time_zone)
        message = await db.update_schedule(conn, tenant_id, event.id, message_id, schedule)
        if message is None:
            raise NotFound(_NO_MESSAGE)
        await _audit(
            conn,
            tenant_id,
            user_id,
            ip,
            "schedule",
            message,
            show_from=rules.local_text(schedule.show_from, event.time_zone),
            show_until=rules.local_text(schedule.show_until, event.time_zone),
        )
    await _announce(bus, Change(event.id, message.display_id, "scheduled", message.id))
    return message


async def move_message(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    message_id: int,
    direction: str,
    *,
    user_id: int | None = None,
    ip: str = "",
) -> list[int]:
    """One place up or down in its queue; the queue's new order of ids."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        message = await _message(conn, tenant_id, event.id, message_id)
        check_writable(event)
        way = rules.parse_direction(direction)
        current = await db.lock_queue(conn, tenant_id, event.id, message.display_id)
        if message.id not in current:
            # Removed between the read and the lock.
            raise NotFound(_NO_MESSAGE)
        order = rules.moved(current, message.id, way)
        if order == current:
            return order
        await db.set_positions(conn, tenant_id, event.id, message.display_id, order)
        await _audit(conn, tenant_id, user_id, ip, "move", message, direction=way)
    await _announce(bus, Change(event.id, message.display_id, "reordered", message.id))
    return order


async def set_order(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    *,
    queue: str = "",
    ids: Sequence[int] | None = None,
    numbers: Mapping[int, str] | None = None,
    user_id: int | None = None,
    ip: str = "",
) -> list[int]:
    """A whole queue's order at once: every id in order (a drag), or a number per message
    (the page's 1, 2, 3… fields). The queue's new order of ids."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        display_id = parse_queue(queue)
        if display_id is not None:
            await _display(conn, tenant_id, event.id, display_id)
        check_writable(event)
        current = await db.lock_queue(conn, tenant_id, event.id, display_id)
        if ids is not None:
            order = rules.reordered(current, ids)
        else:
            order = rules.order_from_numbers(current, dict(numbers or {}))
        if order == current:
            return order
        await db.set_positions(conn, tenant_id, event.id, display_id, order)
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="message.reorder",
            detail={"event_id": event.id, "display_id": display_id, "order": order},
            ip=ip,
        )
    await _announce(bus, Change(event.id, display_id, "reordered"))
    return order


async def remove_message(
    pool: Pool,
    bus: Bus | None,
    tenant_id: int,
    event_id: int,
    message_id: int,
    *,
    user_id: int | None = None,
    ip: str = "",
) -> Message:
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        message = await _message(conn, tenant_id, event.id, message_id)
        check_writable(event)
        current = await db.lock_queue(conn, tenant_id, event.id, message.display_id)
        if not await db.delete_message(conn, tenant_id, event.id, message.id):
            raise NotFound(_NO_MESSAGE)
        # The rest close up, so places stay 0, 1, 2… (see db.set_positions).
        rest = [i for i in current if i != message.id]
        await db.set_positions(conn, tenant_id, event.id, message.display_id, rest)
        await _audit(conn, tenant_id, user_id, ip, "remove", message)
    await _announce(bus, Change(event.id, message.display_id, "removed", message.id))
    return message


async def active_messages(pool: Pool, display: Display, now: datetime) -> ActiveMessages:
    """What a display shows at `now` (the public side: the display came from its code)."""
    async with tenant_connection(pool, display.tenant_id) as conn:
        messages = await db.list_display_messages(
            conn, display.tenant_id, display.event_id, display.id
        )
    active = rules.active_at(messages, display.event_id, display.id, now)
    upcoming = rules.next_change(messages, now)
    return ActiveMessages(active, rules.version(active, upcoming), upcoming)
