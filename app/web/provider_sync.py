"""Provider accounts and event syncs: connect, pick a race, map sub-events, run, schedule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Litestar, Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, SkipValidation
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE

from app.domain.catalog import Event, User
from app.domain.errors import InvalidInput, Unavailable
from app.services import provider_sync as service
from app.services.provider_sync import (
    EXPORT_ONLY,
    SYNC_PROVIDERS,
    EventSync,
    ProviderAccount,
    SyncConfig,
    SyncScheduler,
)
from app.web.dependencies import USER, PoolDep, UserDep, tenant_of
from app.web.errors import is_htmx
from app.web.events import see_other

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
# Pages that carry credential fields are never kept in a cache.
_NO_STORE = {"Cache-Control": "no-store"}
_STATE_LABELS = {
    "idle": "not run yet",
    "running": "running",
    "done": "done",
    "failed": "failed",
}


@asynccontextmanager
async def scheduler_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The background sync runner; entered after the pool is open, left before it closes."""
    scheduler = SyncScheduler(app.state.pool, SyncConfig.from_settings(app.state.settings))
    app.state.sync_scheduler = scheduler
    scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()


def provide_scheduler(state: State) -> SyncScheduler:
    scheduler: SyncScheduler = state.sync_scheduler
    return scheduler


SchedulerDep = NamedDependency[SkipValidation[SyncScheduler]]
_DEPENDENCIES = {**USER, "scheduler": Provide(provide_scheduler, sync_to_thread=False)}


@dataclass
class RunForm:
    full: str = ""


@dataclass
class ScheduleForm:
    every_minutes: str = ""
    until: str = ""


def _local(value: datetime | None, zone: str) -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _local_input(value: datetime | None, zone: str) -> str:
    """A datetime-local input's value, in the event's zone."""
    return "" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def _sync_context(event: Event) -> dict[str, Any]:
    zone = event.time_zone
    return {
        "labels": _STATE_LABELS,
        "local": lambda v: _local(v, zone),
        "local_input": lambda v: _local_input(v, zone),
        "providers": SYNC_PROVIDERS,
        "zone": zone,
    }


# ---- /providers -------------------------------------------------------------------------


@get("/")
async def providers_page(user: UserDep, pool: PoolDep) -> Template:
    accounts = await service.list_accounts(pool, tenant_of(user))
    context = {
        "user": user,
        "accounts": accounts,
        "providers": SYNC_PROVIDERS,
        "export_only": list(EXPORT_ONLY.values()),
    }
    return Template("sync/providers.html", context=context)


def _connect_page(
    user: User,
    provider: str,
    event_id: int | None,
    *,
    error: str = "",
    keep: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    context = {
        "user": user,
        "provider": SYNC_PROVIDERS.get(provider),
        "export": EXPORT_ONLY.get(provider),
        "providers": SYNC_PROVIDERS,
        "export_only": list(EXPORT_ONLY.values()),
        "event_id": event_id,
        "error": error,
        # Only the account name and fields that are not secret are offered again after an
        # error; a credential typed into a password box never travels back.
        "keep": keep or {},
    }
    return Template(
        "sync/connect.html", context=context, status_code=status_code, headers=_NO_STORE
    )


@get("/connect")
async def connect_page(
    user: UserDep, provider: FromQuery[str] = "", event_id: FromQuery[int | None] = None
) -> Template:
    tenant_of(user)
    return _connect_page(user, provider, event_id)


@post("/connect")
async def connect_account(
    request: Request[Any, Any, Any], user: UserDep, pool: PoolDep, scheduler: SchedulerDep
) -> Response[Any]:
    form = await request.form()
    slug = str(form.get("provider") or "")
    raw_event = str(form.get("event_id") or "")
    event_id = int(raw_event) if raw_event.isdigit() else None
    spec = service.provider_of(slug)
    values = {f.name: str(form.get(f.name) or "") for f in spec.fields}
    label = str(form.get("label") or "")
    try:
        await service.connect_account(
            pool,
            scheduler.config,
            tenant_of(user),
            user_id=user.id,
            provider_slug=slug,
            label=label,
            values=values,
        )
    except (InvalidInput, Unavailable) as exc:
        keep = {f.name: values[f.name] for f in spec.fields if not f.secret}
        keep["label"] = label
        status = (
            HTTP_503_SERVICE_UNAVAILABLE if isinstance(exc, Unavailable) else HTTP_400_BAD_REQUEST
        )
        return _connect_page(user, slug, event_id, error=str(exc), keep=keep, status_code=status)
    return see_other(request, f"/events/{event_id}/sync" if event_id else "/providers")


@post("/{account_id:int}/delete")
async def delete_account(
    request: Request[Any, Any, Any], account_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    await service.delete_account(pool, tenant_of(user), account_id)
    return see_other(request, "/providers")


providers_router = Router(
    path="/providers",
    route_handlers=[providers_page, connect_page, connect_account, delete_account],
    dependencies=_DEPENDENCIES,
)


# ---- /events/{event_id}/sync ------------------------------------------------------------


@get("/")
async def sync_page(event_id: FromPath[int], user: UserDep, pool: PoolDep) -> Template:
    o = await service.overview(pool, tenant_of(user), event_id)
    context = {
        "user": user,
        "event": o.event,
        "syncs": o.syncs,
        "accounts": o.accounts,
        "export_only": list(EXPORT_ONLY.values()),
        **_sync_context(o.event),
    }
    return Template("sync/event.html", context=context)


async def _picker(user: User, pool: PoolDep, event: Event, **extra: Any) -> Template:
    accounts = await service.list_accounts(pool, tenant_of(user))
    context = {
        "user": user,
        "event": event,
        "accounts": accounts,
        "account": None,
        "races": [],
        "error": "",
        "providers": SYNC_PROVIDERS,
        **extra,
    }
    return Template("sync/races.html", context=context)


async def _races(
    user: User, pool: PoolDep, config: SyncConfig, event: Event, account: ProviderAccount | None
) -> Template:
    if account is None:
        return await _picker(user, pool, event)
    try:
        _, races = await service.account_races(pool, config, tenant_of(user), account.id)
    except (InvalidInput, Unavailable) as exc:
        # The provider's answer is shown where the races would be, with a way to try again.
        return await _picker(user, pool, event, account=account, error=str(exc))
    return await _picker(user, pool, event, account=account, races=races)


@get("/races")
async def races_page(
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    scheduler: SchedulerDep,
    account_id: FromQuery[int | None] = None,
) -> Template:
    tenant_id = tenant_of(user)
    event, account = await service.check_event_and_account(pool, tenant_id, event_id, account_id)
    return await _races(user, pool, scheduler.config, event, account)


@get("/map")
async def map_page(
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    scheduler: SchedulerDep,
    account_id: FromQuery[int | None] = None,
    race_id: FromQuery[str] = "",
) -> Template:
    tenant_id = tenant_of(user)
    event, account = await service.check_event_and_account(pool, tenant_id, event_id, account_id)
    if account is None or not race_id:
        return await _races(user, pool, scheduler.config, event, account)
    try:
        _, race = await service.account_race(pool, scheduler.config, tenant_id, account.id, race_id)
    except (InvalidInput, Unavailable) as exc:
        return await _picker(user, pool, event, account=account, error=str(exc))
    saved = await service.existing_map(pool, tenant_id, event_id, account.id, race.source_id)
    context = {
        "user": user,
        "event": event,
        "account": account,
        "race": race,
        "saved": saved,
        **_sync_context(event),
    }
    return Template("sync/map.html", context=context)


@post("/map")
async def save_map(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    scheduler: SchedulerDep,
) -> Response[Any]:
    form = await request.form()
    raw_account = str(form.get("account_id") or "")
    if not raw_account.isdigit():
        # Still 404 for a foreign event before complaining about the form.
        await service.get_event(pool, tenant_of(user), event_id)
        raise InvalidInput("Choose a provider account.")
    ids = [str(v) for v in form.getall("sub_id", [])]
    names = [str(v) for v in form.getall("sub_name", [])]
    included = {str(v) for v in form.getall("include", [])}
    chosen = {
        sub_id: names[i] if i < len(names) else ""
        for i, sub_id in enumerate(ids)
        if sub_id in included
    }
    sync_id = await service.save_sync(
        pool,
        scheduler.config,
        tenant_of(user),
        event_id,
        account_id=int(raw_account),
        race_id=str(form.get("race_id") or ""),
        chosen=chosen,
    )
    return see_other(request, f"/events/{event_id}/sync#sync-{sync_id}")


def _status(sync: EventSync, event: Event, status_code: int = 200) -> Template:
    context = {"s": sync, "event": event, **_sync_context(event)}
    return Template("sync/_status.html", context=context, status_code=status_code)


@post("/{sync_id:int}/run")
async def run_sync(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    sync_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    scheduler: SchedulerDep,
    data: Annotated[RunForm, _FORM],
) -> Response[Any]:
    tenant_id = tenant_of(user)
    if await service.start_run(pool, tenant_id, event_id, sync_id):
        scheduler.spawn(tenant_id, sync_id, full=bool(data.full))
    if not is_htmx(request):
        return see_other(request, f"/events/{event_id}/sync#sync-{sync_id}")
    event = await service.get_event(pool, tenant_id, event_id)
    return _status(await service.get_sync(pool, tenant_id, event_id, sync_id), event)


@get("/{sync_id:int}/status")
async def sync_status(
    event_id: FromPath[int], sync_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    tenant_id = tenant_of(user)
    sync = await service.get_sync(pool, tenant_id, event_id, sync_id)
    return _status(sync, await service.get_event(pool, tenant_id, event_id))


@post("/{sync_id:int}/schedule")
async def schedule_sync(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    sync_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    data: Annotated[ScheduleForm, _FORM],
) -> Response[Any]:
    await service.set_schedule(
        pool,
        tenant_of(user),
        event_id,
        sync_id,
        every_minutes=data.every_minutes,
        until=data.until,
    )
    return see_other(request, f"/events/{event_id}/sync#sync-{sync_id}")


@post("/{sync_id:int}/delete")
async def delete_sync(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    sync_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
) -> Response[Any]:
    await service.delete_sync(pool, tenant_of(user), event_id, sync_id)
    return see_other(request, f"/events/{event_id}/sync")


sync_router = Router(
    path="/events/{event_id:int}/sync",
    route_handlers=[
        sync_page,
        races_page,
        map_page,
        save_map,
        run_sync,
        sync_status,
        schedule_sync,
        delete_sync,
    ],
    dependencies=_DEPENDENCIES,
)
ROUTERS = [providers_router, sync_router]
