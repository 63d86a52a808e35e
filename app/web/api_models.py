"""The JSON API's shapes, typed for the OpenAPI schema: domain objects without tenant internals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from typing import Literal

from app.domain.catalog import Display, Event
from app.domain.display_pipeline import (
    AlsoFinished,
    Featured,
    PlaceChanges,
    Places,
    RunnerView,
    Snapshot,
)
from app.domain.messages import Message
from app.domain.templates import Layout
from app.services.live import Shown


@dataclass(frozen=True, slots=True)
class ApiError:
    """Every error of the API: the HTTP status, its title and what went wrong."""

    status: int
    error: str
    detail: str


# --- displays -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    """How a burst of finishers is paced on screen."""

    # Runners featured per second of read time (0: no limit); the rest go to the strip.
    max_per_second: int
    # Featured runners within a second of read time are shown together.
    group_runners: bool
    # A VIP is always featured, even in a full second.
    vips_first: bool
    # Later finish reads of a runner already placed are shown (flagged `repeat`).
    show_repeats: bool


@dataclass(frozen=True, slots=True)
class Rules:
    # Seconds a runner stays featured (the predecessor's displayDuration).
    dwell_s: float
    # How one runner gives way to the next: none, fade or slide.
    transition: str
    # A chip read again at the same point within this many seconds is a repeat.
    duplicate_window_s: int
    # How far behind the newest read a runner is still put at its read-time place.
    reorder_window_s: int
    burst: Burst
    # "chip": a chip nobody wears shows as "Chip <code>"; "hide": it is not shown.
    unknown_chips: Literal["chip", "hide"]


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    # None: the built-in board.
    template_id: int | None
    # The version the display is pinned to; None: it follows the template's latest version.
    version: int | None


@dataclass(frozen=True, slots=True)
class EventInfo:
    name: str
    date: Date | None
    time_zone: str


@dataclass(frozen=True, slots=True)
class PublicDisplay:
    """A display as its public code shows it."""

    code: str
    name: str
    event: EventInfo
    # Timing points shown; empty: every point.
    locations: list[str]
    rules: Rules
    template: TemplateChoice
    # Screens must enter a PIN first (see the API's description).
    pin_required: bool


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """A display of the signed-in tenant's event, with its settings."""

    id: int
    event_id: int
    code: str
    name: str
    locations: list[str]
    rules: Rules
    template: TemplateChoice
    pin_required: bool


def rules_of(display: Display) -> Rules:
    return Rules(
        dwell_s=display.display_duration / 1000,
        transition=display.transition,
        duplicate_window_s=display.duplicate_window,
        reorder_window_s=display.reorder_window,
        burst=Burst(
            max_per_second=display.max_per_second,
            group_runners=display.group_runners,
            vips_first=display.vips_first,
            show_repeats=display.show_repeats,
        ),
        unknown_chips="chip" if display.show_unknown else "hide",
    )


def public_display(display: Display, event: Event) -> PublicDisplay:
    return PublicDisplay(
        code=display.code,
        name=display.name,
        event=EventInfo(event.name, event.event_date, event.time_zone),
        locations=list(display.locations),
        rules=rules_of(display),
        template=TemplateChoice(display.template_id, display.template_version),
        pin_required=display.has_pin,
    )


def display_settings(display: Display) -> DisplaySettings:
    return DisplaySettings(
        id=display.id,
        event_id=display.event_id,
        code=display.code,
        name=display.name,
        locations=list(display.locations),
        rules=rules_of(display),
        template=TemplateChoice(display.template_id, display.template_version),
        pin_required=display.has_pin,
    )


# --- runners and the live stream -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Runner:
    """One shown finish. An unknown chip is "Chip <code>", unnamed, with no bib and no places."""

    # None for an unknown chip; a place change names the runner by it.
    participant_id: int | None
    name: str
    first_name: str
    last_name: str
    bib: str
    known: bool
    vip: bool
    gender: str
    age_group: str | None
    sub_event: str
    city: str
    team: str
    location: str
    read_at: datetime
    # The headline time: gun time, or the time of day before the gun ("clock").
    time: str
    time_basis: str
    gun_time: str
    chip_time: str
    pace: str
    places: Places
    # The read came behind the reorder window: shown where it arrived.
    late: bool
    # A later finish read of a runner already placed.
    repeat: bool


def runner_of(view: RunnerView) -> Runner:
    return Runner(
        participant_id=view.participant_id,
        name=view.name,
        first_name=view.first_name,
        last_name=view.last_name,
        bib=view.bib,
        known=view.known,
        vip=view.vip,
        gender=view.gender,
        age_group=view.age_group,
        sub_event=view.sub_event,
        city=view.city,
        team=view.team,
        location=view.location,
        read_at=view.read_at,
        time=view.time,
        time_basis=view.time_basis,
        gun_time=view.gun_time,
        chip_time=view.chip_time,
        pace=view.pace,
        places=view.places,
        late=view.late,
        repeat=view.repeat,
    )


@dataclass(frozen=True, slots=True)
class Board:
    """What a display shows now: the featured runner(s), the finish list and the strip."""

    display: str
    # The display event this reflects, "<epoch>.<n>": a stream opened with it as
    # Last-Event-ID (or ?after=) continues from here.
    event_id: str
    featured: list[Runner]
    # The finish list, oldest first.
    recent: list[Runner]
    # The "also finished" strip of a full second.
    also: list[Runner]
    # What a race clock counts from (None before the gun).
    gun_at: datetime | None


def board_of(code: str, cursor: str, snapshot: Snapshot) -> Board:
    return Board(
        display=code,
        event_id=cursor,
        featured=[runner_of(r) for r in snapshot.featured],
        recent=[runner_of(r) for r in snapshot.recent],
        also=[runner_of(r) for r in snapshot.also],
        gun_at=snapshot.gun_at,
    )


@dataclass(frozen=True, slots=True)
class RunnerEvent:
    """SSE `runner`: a runner takes the big slot (with the group of that second), and goes
    into the finish list at `position`."""

    id: str
    runner: Runner
    group: list[Runner]
    position: int
    # Shown while the database is away: no id, stored (and counted) later.
    provisional: bool


@dataclass(frozen=True, slots=True)
class AlsoEvent:
    """SSE `also`: a runner of a full second, into the finish list and the strip."""

    id: str
    runner: Runner
    position: int
    strip_position: int
    provisional: bool


@dataclass(frozen=True, slots=True)
class PlaceChange:
    participant_id: int
    places: Places


@dataclass(frozen=True, slots=True)
class PlacesEvent:
    """SSE `places`: runners shown already whose places moved (a faster late read)."""

    id: str
    changes: list[PlaceChange]
    provisional: bool


def stream_event(shown: Shown) -> tuple[str, RunnerEvent | AlsoEvent | PlacesEvent]:
    """A display event as the JSON stream sends it: (SSE event name, body)."""
    event = shown.event
    provisional = shown.id == 0
    if isinstance(event, Featured):
        group = [runner_of(r) for r in event.group]
        body = RunnerEvent(
            shown.stream_id, runner_of(event.runner), group, event.position, provisional
        )
        return "runner", body
    if isinstance(event, AlsoFinished):
        also = AlsoEvent(
            shown.stream_id,
            runner_of(event.runner),
            event.position,
            event.strip_position,
            provisional,
        )
        return "also", also
    assert isinstance(event, PlaceChanges)
    changes = [PlaceChange(c.participant_id, c.places) for c in event.changes]
    return "places", PlacesEvent(shown.stream_id, changes, provisional)


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveMessage:
    id: int
    body: str
    # "ticker": a scrolling line; "fullscreen": between runners, for `seconds`.
    style: str
    seconds: int


@dataclass(frozen=True, slots=True)
class ActiveMessages:
    """What a display shows now: its event's and its own messages, in order."""

    display: str
    messages: list[ActiveMessage]
    # Changes whenever the messages shown change.
    version: str
    # The next schedule boundary, when the set may change without an edit.
    next_change: datetime | None


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message of the event's queue (display_id None) or of one display's."""

    id: int
    display_id: int | None
    body: str
    style: str
    seconds: int
    position: int
    show_from: datetime | None
    show_until: datetime | None
    state: Literal["scheduled", "showing", "ended"]
    created_at: datetime
    updated_at: datetime


def queued(message: Message, now: datetime) -> QueuedMessage:
    return QueuedMessage(
        id=message.id,
        display_id=message.display_id,
        body=message.body,
        style=message.style,
        seconds=message.seconds,
        position=message.position,
        show_from=message.show_from,
        show_until=message.show_until,
        state=message.state(now),
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


@dataclass(frozen=True, slots=True)
class EventMessages:
    event_id: int
    # Schedules are typed in this zone when they carry no offset.
    time_zone: str
    # The event's queue first, then each display's, each in order.
    messages: list[QueuedMessage]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message for the end of a queue: the event's (display_id null), or one display's."""

    body: str
    display_id: int | None = None
    style: Literal["ticker", "fullscreen"] = "ticker"
    # Full-screen seconds (3 to 120; default 8).
    seconds: int | None = None
    # "2026-05-17T09:30" in the event's time zone, or ISO 8601 with an offset; "": unbounded.
    show_from: str = ""
    show_until: str = ""


# --- templates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateListItem:
    id: int
    name: str
    latest_version: int
    saved_at: datetime | None
    # Live displays showing it.
    displays: int


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    created_at: datetime
    note: str
    author: str


@dataclass(frozen=True, slots=True)
class TemplateDetail:
    id: int
    name: str
    latest_version: int
    # The latest saved version's layout: what displays following the template show.
    layout: Layout | None
    # The designer holds edits not saved as a version yet.
    unsaved_draft: bool
    versions: list[Version]


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    template_id: int
    version: int
    created_at: datetime
    note: str
    author: str
    layout: Layout
