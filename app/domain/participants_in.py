"""Participants, races and results as a registration or scoring provider delivers them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

Gender = Literal["M", "F", "X", "U"]
Status = Literal["registered", "cancelled", "transferred", "deferred", "dns", "dnf"]

US_EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class ProviderSubEvent:
    """One distance of a race (RunSignup event, Eventbrite ticket class, CT Live race)."""

    source_id: str
    name: str
    distance: str = ""
    start: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProviderRace:
    """One race of the tenant's provider account, with its sub-events."""

    source: str
    source_id: str
    name: str
    start: datetime | None = None
    sub_events: tuple[ProviderSubEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderParticipant:
    """One participant exactly as far as the provider told us (spec section 8).

    `bib` is kept as the provider's string ("0099" is not "99"); `chips` holds only codes the
    provider gave as chips, never a bib standing in for a tag.
    """

    source: str
    source_id: str
    race_id: str
    sub_event_id: str
    sub_event_name: str
    bib: str = ""
    chips: tuple[str, ...] = ()
    first_name: str = ""
    last_name: str = ""
    gender: Gender = "U"
    birth_date: date | None = None
    age: int | None = None
    city: str = ""
    state: str = ""
    country: str = ""
    team: str = ""
    status: Status = "registered"
    vip: bool = False
    modified_at: datetime | None = None
    # Dicts cannot be hashed; they still take part in equality.
    custom: Mapping[str, str] = field(default_factory=dict, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class RemovedParticipant:
    """A registration the provider withdrew (RunSignup's removed-participants feed)."""

    source: str
    source_id: str
    status: Status
    new_source_id: str = ""
    modified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row of an export file that could not be read; the rest of the file still counts."""

    row: int
    reason: str


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One finisher (or non-finisher) to send back to a results site."""

    place: int | None
    bib: str
    first_name: str
    last_name: str
    gender: Gender
    age: int | None
    chip_time: str = ""  # H:MM:SS(.f); empty for DNF/DNS
    clock_time: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    birth_date: date | None = None
    status: Literal["finished", "dnf", "dns", "dq"] = "finished"
    source_id: str = ""
    bracket: str = ""


_GENDER = {
    "m": "M",
    "male": "M",
    "man": "M",
    "1": "M",
    "f": "F",
    "female": "F",
    "woman": "F",
    "2": "F",
    "x": "X",
    "9": "X",
    "non-binary": "X",
    "nonbinary": "X",
    "non binary": "X",
}


def normalise_gender(value: object) -> Gender:
    """M/F/X from any provider's spelling; anything else (blank, prefer-not, mixed) is U."""
    if value is None:
        return "U"
    got = _GENDER.get(str(value).strip().lower())
    if got == "M":
        return "M"
    if got == "F":
        return "F"
    if got == "X":
        return "X"
    return "U"


_ALPHA2 = {
    "USA": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "CAN": "CA",
    "CANADA": "CA",
    "MEX": "MX",
    "MEXICO": "MX",
    "GBR": "GB",
    "UNITED KINGDOM": "GB",
    "ESP": "ES",
    "SPAIN": "ES",
}


def normalise_country(value: object) -> str:
    """ISO 3166 alpha-2 where it is derivable; otherwise the provider's text unchanged."""
    text = text_of(value)
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _ALPHA2.get(text.upper(), text)


def text_of(value: object) -> str:
    """A provider value as stripped text; None and missing are empty."""
    if value is None:
        return ""
    return str(value).strip()


def int_or_none(value: object) -> int | None:
    """An integer from an int or a digit string; blank is None; anything else raises ValueError."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    return int(text)


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_birth_date(value: object) -> date | None:
    """YYYY-MM-DD or M/D/YYYY; blank is None; anything else raises ValueError."""
    text = text_of(value)
    if not text:
        return None
    match = _US_DATE.match(text)
    if match:
        return date(int(match[3]), int(match[1]), int(match[2]))
    return date.fromisoformat(text[:10])


def parse_iso_utc(value: object) -> datetime | None:
    """ISO 8601 with Z or an offset, as UTC; blank is None."""
    text = text_of(value)
    if not text:
        return None
    got = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if got.tzinfo is None:
        got = got.replace(tzinfo=UTC)
    return got.astimezone(UTC)


def from_epoch(value: object) -> datetime | None:
    """Unix seconds (int or digit string) as UTC; blank is None."""
    seconds = int_or_none(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def parse_us_eastern(value: object, formats: tuple[str, ...]) -> datetime | None:
    """A naive US Eastern wall-clock time (RunSignup, UltraSignup) as UTC; blank is None."""
    text = text_of(value)
    if not text:
        return None
    for fmt in formats:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=US_EASTERN).astimezone(UTC)
    raise ValueError(f"unrecognised date/time {text!r}")


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1 ("LucÃ\xada" → "Lucía"), the Copernico quirk; else unchanged."""
    if "Ã" not in text and "Â" not in text:
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


# The words exports and CSV files use for a registration's status.
STATUS_WORDS: Mapping[str, Status] = {
    "": "registered",
    "complete": "registered",
    "completed": "registered",
    "registered": "registered",
    "active": "registered",
    "confirmed": "registered",
    "paid": "registered",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "refunded": "cancelled",
    "removed": "cancelled",
    "withdrawn": "cancelled",
    "deleted": "cancelled",
    "transferred": "transferred",
    "deferred": "deferred",
    "dns": "dns",
    "dnf": "dnf",
}
