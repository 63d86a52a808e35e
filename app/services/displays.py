"""A display's settings page: read and change its settings, rotate or revoke its code, and
check a screen's PIN. Every change is tenant-scoped and audit-logged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from app.db import audit, catalog
from app.db import displays as displays_db
from app.db.pool import Pool, connection, tenant_connection
from app.domain.catalog import Display, Event, EventLocation
from app.domain.codes import new_display_code
from app.domain.display_settings import (
    SettingsForm,
    changes,
    is_pin_shaped,
    location_choices,
    parse_settings,
    settings_of,
)
from app.domain.errors import Conflict, NotFound
from app.services import auth
from app.services.events import check_writable, find_event

DISPLAY_NOT_FOUND = "There is no such display."
_CODE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class DisplayPage:
    event: Event
    display: Display
    # The event's timing points, in course order.
    locations: list[EventLocation]
    # The locations the display may take: the event's, then any it has the event no longer lists.
    choices: list[str]
    code_issued_at: datetime


@dataclass(frozen=True, slots=True)
class PinThrottle:
    """Wrong PINs allowed in a sliding window before a screen must wait."""

    per_address: int = 10
    per_display: int = 50
    window_s: int = 15 * 60


DEFAULT_PIN_THROTTLE = PinThrottle()


@dataclass(frozen=True, slots=True)
class PinResult:
    # The hash the right PIN matched: a screen's access cookie is signed over it.
    pin_hash: str | None
    # Above zero: refused without checking; try again after this many seconds.
    retry_after_s: int = 0
    # False: the display has no PIN (any more); the screen may go straight on.
    needed: bool = True


def _found(row: Display | None) -> Display:
    # Another tenant's or another event's display is as missing as a revoked one.
    if row is None:
        raise NotFound(DISPLAY_NOT_FOUND)
    return row


async def display_page(pool: Pool, tenant_id: int, event_id: int, display_id: int) -> DisplayPage:
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        found = await displays_db.get_event_display(conn, tenant_id, event.id, display_id)
        if found is None:
            raise NotFound(DISPLAY_NOT_FOUND)
        display, issued_at = found
        locations = await catalog.list_event_locations(conn, tenant_id, event.id)
    choices = location_choices([loc.name for loc in locations], display.locations)
    return DisplayPage(event, display, locations, choices, issued_at)


async def event_displays(pool: Pool, tenant_id: int, event_id: int) -> list[Display]:
    """The live displays of the tenant's event (NotFound for another tenant's event)."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        return await catalog.list_displays(conn, tenant_id, event.id)


async def event_of(pool: Pool, display: Display) -> Event:
    """The event of a display reached by its public code (the code is the capability)."""
    async with tenant_connection(pool, display.tenant_id) as conn:
        return await find_event(conn, display.tenant_id, display.event_id)


async def get_display(pool: Pool, tenant_id: int, event_id: int, display_id: int) -> Display:
    """The live display of the tenant's event, or NotFound."""
    return (await display_page(pool, tenant_id, event_id, display_id)).display


async def update_settings(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    display_id: int,
    form: SettingsForm,
    *,
    user_id: int | None,
    ip: str = "",
) -> Display:
    """Checks and stores the form; SettingsErrors (an InvalidInput) names each refused field,
    and then nothing is changed."""
    page = await display_page(pool, tenant_id, event_id, display_id)
    check_writable(page.event)
    settings, pin = parse_settings(form, page.choices)
    # argon2 is deliberately slow: hashed off the event loop, before the transaction opens.
    new_hash = await asyncio.to_thread(auth.hash_password, pin.pin) if pin.action == "set" else None
    async with tenant_connection(pool, tenant_id) as conn:
        check_writable(await find_event(conn, tenant_id, event_id))
        before = _found(await displays_db.lock_event_display(conn, tenant_id, event_id, display_id))
        display = _found(
            await displays_db.update_settings(conn, tenant_id, event_id, display_id, settings)
        )
        detail: dict[str, object] = {
            "display_id": display.id,
            "changes": changes(settings_of(before), settings),
        }
        if pin.action != "keep":
            display = _found(
                await displays_db.set_pin_hash(conn, tenant_id, event_id, display_id, new_hash)
            )
            detail["pin"] = "set" if pin.action == "set" else "cleared"
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="display.settings",
            detail=detail,
            ip=ip,
        )
    return display


async def rotate_code(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    display_id: int,
    *,
    user_id: int | None,
    ip: str = "",
) -> Display:
    """A new public code for the display; the old one answers 404 from the commit on."""
    for attempt in range(_CODE_ATTEMPTS):
        try:
            async with tenant_connection(pool, tenant_id) as conn:
                check_writable(await find_event(conn, tenant_id, event_id))
                display = _found(
                    await displays_db.set_code(
                        conn, tenant_id, event_id, display_id, new_display_code()
                    )
                )
                await audit.record(
                    conn,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    action="display.rotate_code",
                    detail={"display_id": display.id, "name": display.name},
                    ip=ip,
                )
                return display
        except Conflict:
            if attempt == _CODE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def revoke(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    display_id: int,
    *,
    user_id: int | None,
    ip: str = "",
) -> Display:
    """The display stops for good: its code answers 404 and it leaves the event page.

    Allowed on an archived event too: its displays keep working, so a code that leaked after
    the race must still be stoppable without restoring the event.
    """
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        display = _found(await displays_db.revoke(conn, tenant_id, event.id, display_id))
        await audit.record(
            conn,
            tenant_id=tenant_id,
            user_id=user_id,
            action="display.revoke",
            detail={"display_id": display.id, "name": display.name},
            ip=ip,
        )
    return display


async def screen_pin_hash(pool: Pool, display: Display) -> str | None:
    """The hash a screen's access cookie must be signed over; None: the display has no PIN."""
    if not display.has_pin:
        return None
    async with connection(pool) as conn:
        return await displays_db.pin_hash(conn, display.id)


async def check_pin(
    pool: Pool, display: Display, pin: str, ip: str, throttle: PinThrottle = DEFAULT_PIN_THROTTLE
) -> PinResult:
    """A screen's typed PIN: the matching hash, or None (wrong, or throttled: retry_after_s)."""
    async with connection(pool) as conn:
        wait = await displays_db.pin_wait_s(
            conn,
            display.id,
            ip,
            per_address=throttle.per_address,
            per_display=throttle.per_display,
            window_s=throttle.window_s,
        )
        if wait:
            return PinResult(None, wait)
        stored = await displays_db.pin_hash(conn, display.id)
    if stored is None:
        return PinResult(None, needed=False)
    pin = pin.strip()
    if is_pin_shaped(pin) and await asyncio.to_thread(auth.verify_password, pin, stored):
        return PinResult(stored)
    async with connection(pool) as conn, conn.transaction():
        await displays_db.record_pin_failure(conn, display.id, ip)
        await displays_db.purge_pin_failures(conn, throttle.window_s)
    return PinResult(None)
