"""Tenants, users, events, participants and displays as plain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.domain.errors import NotFound


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: int | None
    email: str
    display_name: str
    role: str

    def own_tenant(self) -> int:
        """The tenant whose data this user's pages show; platform admins have none."""
        if self.tenant_id is None:
            raise NotFound("Platform administrators have no tenant pages.")
        return self.tenant_id


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    tenant_id: int
    name: str
    event_date: date | None
    time_zone: str
    ct_event_id: str | None
    provider_key: str | None = None
    archived_at: datetime | None = None
    tag_mode: str = "strip_zeros"  # app.domain.reads.TAG_MODES
    # Finish reads this soon after the gun are start crossings (courses starting on the mats).
    min_finish_s: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


LOCATION_KINDS: dict[str, str] = {
    "start": "Start",
    "split": "Split",
    "announcer": "Announcer mat",
    "finish": "Finish",
}


@dataclass(frozen=True, slots=True)
class EventLocation:
    """A timing point of an event as the organiser names it (kind: a LOCATION_KINDS key)."""

    name: str
    kind: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class ParticipantIn:
    """One participant as imported; chip_code may be empty (then only the bib identifies)."""

    bib: str
    chip_code: str
    first_name: str
    last_name: str
    gender: str = "U"
    age: int | None = None
    city: str = ""
    state: str = ""
    country: str = ""
    team: str = ""


@dataclass(frozen=True, slots=True)
class Participant:
    chip_code: str
    id: int
    bib: str
    first_name: str
    last_name: str
    gender: str
    age: int | None
    city: str
    state: str
    country: str
    team: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class Display:
    id: int
    tenant_id: int
    event_id: int
    code: str
    name: str
    locations: list[str]
    display_duration: int
    duplicate_window: int
    show_unknown: bool
    # Ordering and pacing (app.domain.display_pipeline.DisplayRules).
    reorder_window: int = 10
    max_per_second: int = 0
    group_runners: bool = False
    vips_first: bool = True
    show_repeats: bool = False
    # The template shown (None: the built-in layout), and the version it is pinned to (None:
    # it follows the template's latest version).
    template_id: int | None = None
    template_version: int | None = None
    # How one runner gives way to the next on screen: a TRANSITIONS key
    # (app.domain.display_settings).
    transition: str = "fade"
    # Whether a screen must enter a PIN first; the PIN's hash is never loaded here (a separate
    # query checks a PIN, app.services.displays.check_pin).
    has_pin: bool = False


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    """A participant as the event's participant list shows it."""

    id: int
    bib: str
    first_name: str
    last_name: str
    gender: str
    age: int | None
    city: str
    state: str
    country: str
    team: str
    sub_event: str
    status: str
    vip: bool
    source: str
    chips: list[str]


@dataclass(frozen=True, slots=True)
class ParticipantSummary:
    participants: int
    registered: int
    without_chip: int
    chip_file_chips: int
