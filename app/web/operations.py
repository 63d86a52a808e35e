"""The timing-operations page of an event: its timing points' health, polled every 2 s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from litestar import Router, get
from litestar.params import FromPath
from litestar.response import Template

from app.services import operations as service
from app.services.operations import CollectorLink, Operations
from app.settings import Settings
from app.web.dependencies import USER, PoolDep, SettingsDep, UserDep, tenant_of

_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def link_of(settings: Settings) -> CollectorLink:
    return CollectorLink(
        status_url=settings.status_url,
        provider_host=settings.collector_host,
        provider_port=settings.collector_port,
        silent_after_s=settings.silent_after_s,
    )


def ago(seconds: float | None) -> str:
    """12.4 → '12 s ago'; minutes and hours past a minute, so the column stays short."""
    if seconds is None:
        return "no reads yet"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s ago"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s ago" if secs else f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"


def _clock(zone: tzinfo, today: datetime) -> Callable[[datetime | None], str]:
    """HH:MM:SS in the event's zone; with the date when it is not today's."""

    def clock(at: datetime | None) -> str:
        if at is None:
            return "-"
        local = at.astimezone(zone)
        if local.date() != today.astimezone(zone).date():
            return local.strftime("%Y-%m-%d %H:%M:%S")
        return local.strftime("%H:%M:%S")

    return clock


def skew(seconds: float | None) -> str:
    """Read time minus receive time: negative means the decoder's clock runs behind."""
    if seconds is None:
        return "not measured yet"
    if abs(seconds) < 0.05:
        return "0.0 s"
    size = abs(seconds)
    if size < 60:
        amount = f"{size:.1f} s"
    elif size < 3600:
        amount = f"{size / 60:.0f} min"
    elif size < 48 * 3600:
        amount = f"{size / 3600:.1f} h"
    else:
        amount = f"{size / 86400:.0f} days"
    return f"{amount} {'behind' if seconds < 0 else 'ahead'}"


def _context(ops: Operations) -> dict[str, Any]:
    link = ops.link
    host = link.provider_host
    return {
        "ops": ops,
        "clock": _clock(ops.zone, ops.checked_at),
        "ago": ago,
        "skew": skew,
        "zone_name": str(ops.zone),
        "provider_host": "this server's address" if host in _ANY_ADDRESS else host,
        "loopback_only": host.startswith("127.") or host in ("localhost", "::1"),
    }


@get("/{event_id:int}/operations")
async def operations_page(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    ops = await service.event_operations(pool, tenant_of(user), event_id, link_of(settings))
    return Template("events/operations.html", context={"user": user, **_context(ops)})


@get("/{event_id:int}/operations/points")
async def operations_points(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, settings: SettingsDep
) -> Template:
    ops = await service.event_operations(pool, tenant_of(user), event_id, link_of(settings))
    return Template("events/_operations.html", context=_context(ops))


router = Router(
    path="/events", route_handlers=[operations_page, operations_points], dependencies=USER
)
