"""Live timing operations of one event: the collector's decoder health, for its own points only."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from app.db import catalog
from app.db.pool import Pool, tenant_connection
from app.domain.catalog import Event
from app.domain.errors import NotFound

log = logging.getLogger(__name__)

# The page polls every 2 s; a collector slower than this is as good as away.
STATUS_TIMEOUT_S = 1.5
# The collector flags (red) a skew beyond its own threshold; this much earns amber first.
SKEW_WARN_S = 10.0
# Gap ranges shown per location; the rest are counted.
GAP_RANGES_SHOWN = 3

_EVENT_NOT_FOUND = "There is no such event."
_STATES = frozenset({"ok", "silent", "disconnected"})


@dataclass(frozen=True, slots=True)
class CollectorLink:
    """Where the collector answers, and what a provider is told to connect to."""

    status_url: str
    provider_host: str
    provider_port: int
    silent_after_s: int


@dataclass(frozen=True, slots=True)
class LocationOps:
    name: str
    reads: int
    last_read_at: datetime | None
    last_read_age_s: float | None
    silent: bool
    reads_per_minute: int
    distinct_tags: int
    # None: the collector has not loaded the event's chips yet.
    unknown_chips: int | None
    gaps: int
    missing_reads: int
    gap_ranges: tuple[tuple[int, int], ...]
    last_seq: int | None

    @property
    def recent_gap_ranges(self) -> tuple[tuple[int, int], ...]:
        return self.gap_ranges[-GAP_RANGES_SHOWN:]

    @property
    def earlier_gap_ranges(self) -> int:
        return max(0, len(self.gap_ranges) - GAP_RANGES_SHOWN)


@dataclass(frozen=True, slots=True)
class PointOps:
    """One timing point: a provider connection identity, with every line it has open."""

    identity: str
    session: str | None
    program: str | None
    version: str | None
    state: str
    connected: bool
    connections: int
    since: datetime | None
    close_reason: str | None
    clock_skew_s: float | None
    skew_flagged: bool
    skewed_reads: int
    rejected: int
    locations: tuple[LocationOps, ...]

    @property
    def alert(self) -> bool:
        """Needs an operator now: silent, disconnected, or one of its locations silent."""
        return self.state != "ok" or any(loc.silent for loc in self.locations)

    @property
    def skew_level(self) -> str:
        """'bad' beyond the collector's threshold, 'warn' beyond ours, else 'ok'."""
        if self.skew_flagged:
            return "bad"
        if self.clock_skew_s is not None and abs(self.clock_skew_s) > SKEW_WARN_S:
            return "warn"
        return "ok"


@dataclass(frozen=True, slots=True)
class Operations:
    event: Event
    zone: tzinfo
    checked_at: datetime
    # False: the collector did not answer, or answered something that is not its status.
    reachable: bool
    problem: str | None
    points: tuple[PointOps, ...]
    link: CollectorLink

    @property
    def alerts(self) -> int:
        return sum(1 for p in self.points if p.alert)


class _Garbage(ValueError):
    """The collector answered, but not with the status this page reads."""


def event_zone(event: Event) -> tzinfo:
    try:
        return ZoneInfo(event.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def event_operations(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    link: CollectorLink,
) -> Operations:
    """The event (404 if it is not the tenant's) and the points feeding it, right now."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await catalog.get_event(conn, tenant_id, event_id)
    # A foreign event looks exactly like a missing one, and costs no collector request.
    if event is None:
        raise NotFound(_EVENT_NOT_FOUND)
    checked_at = datetime.now(UTC)
    try:
        status = await fetch_status(link.status_url, event_id)
        points = points_of(status, tenant_id, event_id)
    except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, ValueError) as exc:
        problem = _describe(exc)
        log.info("collector status from %s: %s", link.status_url, problem)
        return Operations(event, event_zone(event), checked_at, False, problem, (), link)
    return Operations(event, event_zone(event), checked_at, True, None, points, link)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: a new client would load the CA bundle on every page that shows status."""
    return ssl.create_default_context()


async def fetch_status(url: str, event_id: int) -> Any:
    """The collector's /status JSON for one event; raises httpx errors, TimeoutError or ValueError.

    The collector filters by event (it holds every tenant's points); the tenant is checked here.
    """
    # httpx's timeout is per phase; this bounds the whole exchange, a trickling body too.
    # trust_env off: the collector is ours and near, never behind an HTTP proxy.
    async with (
        asyncio.timeout(STATUS_TIMEOUT_S),
        httpx.AsyncClient(
            timeout=STATUS_TIMEOUT_S, trust_env=False, verify=_tls_context()
        ) as client,
    ):
        response = await client.get(
            url, params={"event_id": event_id}, headers={"Accept": "application/json"}
        )
    response.raise_for_status()
    return response.json()


def points_of(status: Any, tenant_id: int, event_id: int) -> tuple[PointOps, ...]:
    """The points of this tenant's event, by identity; every other point is left unread."""
    if not isinstance(status, dict) or not isinstance(status.get("points"), list):
        raise _Garbage("the answer has no list of points")
    mine = [
        raw
        for raw in status["points"]
        if isinstance(raw, dict)
        and type(raw.get("tenant_id")) is int
        and type(raw.get("event_id")) is int
        and raw["tenant_id"] == tenant_id
        and raw["event_id"] == event_id
    ]
    return tuple(sorted((_point(raw) for raw in mine), key=lambda p: p.identity))


def _point(raw: dict[str, Any]) -> PointOps:
    state = _str(raw, "state")
    if state not in _STATES:
        raise _Garbage(f"unknown point state {state!r}")
    locations = raw.get("locations")
    if not isinstance(locations, list):
        raise _Garbage("a point has no list of locations")
    return PointOps(
        identity=_str(raw, "identity"),
        session=_opt_str(raw, "session"),
        program=_opt_str(raw, "program"),
        version=_opt_str(raw, "version"),
        state=state,
        connected=_bool(raw, "connected"),
        connections=_int(raw, "connections"),
        since=_opt_time(raw, "since"),
        close_reason=_opt_str(raw, "close_reason"),
        clock_skew_s=_opt_float(raw, "clock_skew_s"),
        skew_flagged=_bool(raw, "skew_flagged"),
        skewed_reads=_int(raw, "skewed_reads"),
        rejected=_int(raw, "rejected"),
        locations=tuple(_location(loc) for loc in locations),
    )


def _location(raw: Any) -> LocationOps:
    if not isinstance(raw, dict):
        raise _Garbage("a location is not an object")
    ranges = raw.get("gap_ranges")
    if not isinstance(ranges, list):
        raise _Garbage("a location has no list of gap ranges")
    return LocationOps(
        name=_str(raw, "name"),
        reads=_int(raw, "reads"),
        last_read_at=_opt_time(raw, "last_read_at"),
        last_read_age_s=_opt_float(raw, "last_read_age_s"),
        silent=_bool(raw, "silent"),
        reads_per_minute=_int(raw, "reads_per_minute"),
        distinct_tags=_int(raw, "distinct_tags"),
        unknown_chips=_opt_int(raw, "unknown_chips"),
        gaps=_int(raw, "gaps"),
        missing_reads=_int(raw, "missing_reads"),
        gap_ranges=tuple(_range(r) for r in ranges),
        last_seq=_opt_int(raw, "last_seq"),
    )


def _range(raw: Any) -> tuple[int, int]:
    if (
        isinstance(raw, list)
        and len(raw) == 2
        and all(type(v) is int for v in raw)
        and raw[0] <= raw[1]
    ):
        return raw[0], raw[1]
    raise _Garbage(f"bad gap range {raw!r}")


def _int(raw: dict[str, Any], key: str) -> int:
    value = raw.get(key)
    # bool is an int to Python, never to the collector.
    if type(value) is not int:
        raise _Garbage(f"{key} is not a whole number")
    return value


def _opt_int(raw: dict[str, Any], key: str) -> int | None:
    return None if raw.get(key) is None else _int(raw, key)


def _opt_float(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise _Garbage(f"{key} is not a number")
    return float(value)


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise _Garbage(f"{key} is not true or false")
    return value


def _str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise _Garbage(f"{key} is not text")
    return value


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    return None if raw.get(key) is None else _str(raw, key)


def _opt_time(raw: dict[str, Any], key: str) -> datetime | None:
    text = _opt_str(raw, key)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Garbage(f"{key} is not a time") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _describe(exc: Exception) -> str:
    """A short reason for the operator, without a stack trace."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer within {STATUS_TIMEOUT_S:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host not reachable"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"it answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return f"request failed ({type(exc).__name__})"
    if isinstance(exc, _Garbage):
        return f"its answer was not a status report: {exc}"
    return "its answer was not JSON"
