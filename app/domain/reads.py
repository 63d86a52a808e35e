"""A chip read as stored and as carried on the bus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID


class NewRead(NamedTuple):
    """A parsed read on its way into timing_reads; a tuple in COPY column order."""

    session_id: int
    location_id: int
    sequence_number: int
    location_name: str
    tag_code: str
    read_time: str
    read_at: datetime
    lap_count: int
    reader_id: str
    gator_number: int
    raw_line: str
    received_at: datetime


class NewReject(NamedTuple):
    """A line that is no valid read or protocol line, kept for the operator (column order)."""

    # A uuid made when the line is rejected: storing the same reject twice keeps one row.
    reject_key: UUID
    session_id: int | None
    peer: str
    reason: str
    detail: str
    raw_line: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRead:
    """A read that is durably in timing_reads; id orders reads by commit.

    id is 0 for a provisional read: spooled while the database was away, not yet stored.
    """

    id: int
    session_id: int
    location_name: str
    tag_code: str
    read_at: datetime
    sequence_number: int
    lap_count: int


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """What the collector publishes after a commit: the new reads of one event (every session
    it claims, in id order; session_id is the first read's), or of one unclaimed session."""

    session_id: int
    event_id: int | None
    tenant_id: int | None
    reads: tuple[StoredRead, ...]
    # Spooled while the database was away: shown live now, stored (with ids) later.
    provisional: bool = False

    def to_json(self) -> bytes:
        body = {
            "session_id": self.session_id,
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "provisional": self.provisional,
            # One array per read, in StoredRead's field order: this runs for every read the
            # collector stores, and arrays cost half of what objects do to build and encode.
            "reads": [
                [
                    r.id,
                    r.session_id,
                    r.location_name,
                    r.tag_code,
                    r.read_at.isoformat(),
                    r.sequence_number,
                    r.lap_count,
                ]
                for r in self.reads
            ],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> ReadBatch:
        body = json.loads(raw)
        return cls(
            session_id=body["session_id"],
            event_id=body["event_id"],
            tenant_id=body["tenant_id"],
            provisional=bool(body.get("provisional", False)),
            reads=tuple(
                StoredRead(rid, sid, location, tag, datetime.fromisoformat(at), seq, lap)
                for rid, sid, location, tag, at, seq, lap in body["reads"]
            ),
        )


def event_channel(event_id: int) -> str:
    """Bus channel of every read of every session claimed by one event."""
    return f"reads.event.{event_id}"


def session_channel(session_id: int) -> str:
    """Bus channel of a session nobody has claimed yet (platform admins watch these)."""
    return f"reads.session.{session_id}"


# Tags the provider sends as control events at a location, never athletes.
GUN_TAG = "guntime"
CONTROL_TAGS = frozenset({GUN_TAG, "newlocation"})


# How an event spells its chip codes once normalised (events.tag_mode); set before chips exist.
STRIP_ZEROS = "strip_zeros"
EXACT = "exact"
TAG_MODES: dict[str, str] = {
    STRIP_ZEROS: "Leading zeros do not count (009573 is 9573)",
    EXACT: "Exactly as printed (009573 and 9573 are different chips)",
}


def normalize_tag(tag: str, mode: str = STRIP_ZEROS) -> str:
    """One spelling per chip: under strip_zeros '009573' and '9573' are the same athlete.

    Either way case and surrounding spaces do not count: decoders and exports disagree on both.
    """
    text = tag.strip().upper()
    if mode == EXACT:
        return text
    return text.lstrip("0") or ("0" if text else "")
