"""Display messages: validation, local-time schedules, queue order and what a screen shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import InvalidInput

TICKER = "ticker"
FULLSCREEN = "fullscreen"
STYLES: dict[str, str] = {TICKER: "Ticker (scrolling line)", FULLSCREEN: "Full screen"}
MAX_BODY = 500
MIN_SECONDS = 3
MAX_SECONDS = 120
DEFAULT_SECONDS = 8
# Per queue: more than this is a wall of text, not a message queue.
MAX_PER_QUEUE = 100

Direction = Literal["up", "down"]
State = Literal["scheduled", "showing", "ended"]


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    tenant_id: int
    event_id: int
    # None: the event's queue (every display of the event shows it).
    display_id: int | None
    body: str
    style: str
    seconds: int
    position: int
    show_from: datetime | None
    show_until: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime

    def is_active(self, at: datetime) -> bool:
        """Shown at `at`: from show_from (inclusive) to show_until (exclusive)."""
        return self.state(at) == "showing"

    def state(self, at: datetime) -> State:
        if self.show_from is not None and at < self.show_from:
            return "scheduled"
        if self.show_until is not None and at >= self.show_until:
            return "ended"
        return "showing"


@dataclass(frozen=True, slots=True)
class MessageText:
    """What the content form sets: the text, how it is shown, and for how long."""

    body: str
    style: str
    seconds: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a message shows, in UTC; None on a side: no bound there."""

    show_from: datetime | None = None
    show_until: datetime | None = None


def parse_text(body: str, style: str, seconds: str) -> MessageText:
    """The content form's fields, checked. Line breaks become spaces: a ticker is one line."""
    text = " ".join(body.split())
    if not text:
        raise InvalidInput("Write the message.")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"Keep a message to {MAX_BODY} characters (this one has {len(text)}).")
    style = style.strip() or TICKER
    if style not in STYLES:
        raise InvalidInput("Show a message as a ticker or full screen.")
    seconds_text = seconds.strip()
    if not seconds_text:
        count = DEFAULT_SECONDS
    else:
        try:
            count = int(seconds_text)
        except ValueError:
            raise InvalidInput("Give the full-screen time in whole seconds.") from None
    if not MIN_SECONDS <= count <= MAX_SECONDS:
        raise InvalidInput(
            f"A full-screen message stays up {MIN_SECONDS} to {MAX_SECONDS} seconds."
        )
    return MessageText(text, style, count)


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Events are saved with a checked zone; an unknown one (tzdata removed it) reads as UTC.
        return ZoneInfo("UTC")


def parse_local_time(text: str, zone: str, what: str = "time") -> datetime | None:
    """A datetime-local value ("2026-05-17T09:30") in the event's zone → UTC; blank → None.

    A wall time the clocks skip (spring forward) does not exist there and is refused; one they
    pass twice (fall back) means its first occurrence.
    """
    text = text.strip()
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"Give the {what} as a date and time, such as 2026-05-17 09:30."
        ) from None
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    tz = time_zone(zone)
    at = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if at.astimezone(tz).replace(tzinfo=None) != local:
        raise InvalidInput(
            f"{local:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks skip it. "
            "Pick a time outside the change."
        )
    return at


def parse_schedule(show_from: str, show_until: str, zone: str) -> Schedule:
    """The schedule form's fields (local times in the event's zone), checked."""
    start = parse_local_time(show_from, zone, "start")
    end = parse_local_time(show_until, zone, "end")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("A message has to end after it starts.")
    return Schedule(start, end)


def local_input(value: datetime | None, zone: str) -> str:
    """A datetime-local input's value in the event's zone ("" for no bound)."""
    return "" if value is None else value.astimezone(time_zone(zone)).strftime("%Y-%m-%dT%H:%M")


def local_text(value: datetime | None, zone: str) -> str:
    return "" if value is None else value.astimezone(time_zone(zone)).strftime("%Y-%m-%d %H:%M")


def queue_sort_key(message: Message) -> tuple[int, int, int]:
    """Position first; on a tie the event's message comes before a display's, then the older."""
    return (message.position, 0 if message.display_id is None else 1, message.id)


def ordered(messages: Iterable[Message]) -> list[Message]:
    return sorted(messages, key=queue_sort_key)


def for_display(messages: Iterable[Message], event_id: int, display_id: int) -> list[Message]:
    """The messages one display shows (at any time): its event's queue and its own, in order."""
    return ordered(
        m
        for m in messages
        if m.event_id == event_id and (m.display_id is None or m.display_id == display_id)
    )


def active_at(
    messages: Iterable[Message], event_id: int, display_id: int, at: datetime
) -> list[Message]:
    """What the display shows at `at`: its event's and its own messages in their schedules."""
    return [m for m in for_display(messages, event_id, display_id) if m.is_active(at)]


def next_change(messages: Iterable[Message], after: datetime) -> datetime | None:
    """The first schedule boundary after `after`: when the active set may change by itself."""
    bounds = [
        at for m in messages for at in (m.show_from, m.show_until) if at is not None and at > after
    ]
    return min(bounds, default=None)


def version(messages: Sequence[Message], next_at: datetime | None = None) -> str:
    """Changes whenever what a screen gets of these messages changes (an ETag): the messages
    in order, and when the screen should ask again."""
    shown: list[object] = [[m.id, m.body, m.style, m.seconds] for m in messages]
    shown.append(None if next_at is None else next_at.isoformat())
    digest = hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()
    return digest[:32]


def moved(order: Sequence[int], message_id: int, direction: Direction) -> list[int]:
    """The queue's ids with one moved a place up or down; at either end nothing changes."""
    ids = list(order)
    if message_id not in ids:
        raise ValueError(f"message {message_id} is not in this queue")
    i = ids.index(message_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return ids


def parse_direction(value: str) -> Direction:
    value = value.strip()
    if value == "up":
        return "up"
    if value == "down":
        return "down"
    raise InvalidInput("Move a message up or down.")


def reordered(current: Sequence[int], wanted: Sequence[int]) -> list[int]:
    """A new order for a queue: exactly its messages, each once."""
    if len(set(wanted)) != len(wanted):
        raise InvalidInput("A message is listed twice in the new order.")
    if set(wanted) != set(current):
        raise InvalidInput(
            "The new order has to list every message of the queue, and only those; "
            "reload the page, someone may have changed it."
        )
    return list(wanted)


def order_from_numbers(current: Sequence[int], numbers: dict[int, str]) -> list[int]:
    """The order typed into the page's number fields (1, 2, 3…): smaller first; equal numbers
    and blank fields keep the queue's current order among themselves (blanks go last)."""
    keys: dict[int, tuple[int, float, int]] = {}
    for index, message_id in enumerate(current):
        text = numbers.get(message_id, "").strip()
        if not text:
            keys[message_id] = (1, 0.0, index)
            continue
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"{text!r} is not a place in the queue; use 1, 2, 3…") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"{text!r} is not a place in the queue; use 1, 2, 3…")
        keys[message_id] = (0, value, index)
    unknown = set(numbers) - set(current)
    if unknown:
        raise InvalidInput(
            "The new order names a message that is not in this queue; reload the page."
        )
    return sorted(current, key=lambda message_id: keys[message_id])


def channel(event_id: int) -> str:
    """Bus channel on which an event's message queues announce every change."""
    return f"messages.event.{event_id}"


@dataclass(frozen=True, slots=True)
class Change:
    """What a bus notification says: which queue changed (display_id None: the event's, so
    every display of the event), and how."""

    event_id: int
    display_id: int | None
    action: str
    message_id: int | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "event_id": self.event_id,
                "display_id": self.display_id,
                "action": self.action,
                "message_id": self.message_id,
            }
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Change:
        body = json.loads(raw)
        return cls(
            event_id=int(body["event_id"]),
            display_id=None if body.get("display_id") is None else int(body["display_id"]),
            action=str(body["action"]),
            message_id=None if body.get("message_id") is None else int(body["message_id"]),
        )

    def concerns(self, display_id: int) -> bool:
        """Whether a screen of this display has to refetch its messages."""
        return self.display_id is None or self.display_id == display_id
