"""Provider sync: encrypted accounts, race and sub-event mapping, runs and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.db import catalog
from app.db import provider_sync as db
from app.db.participants import import_participants, set_status_by_source_id
from app.db.pool import Pool, connection, tenant_connection
from app.db.provider_sync import ClaimedSync, EventSync, ProviderAccount
from app.domain.catalog import Event
from app.domain.errors import AppError, Conflict, InvalidInput, NotFound, Unavailable
from app.domain.participant_import import OPTIONAL_FIELDS
from app.domain.participants_in import ProviderParticipant, ProviderRace, RemovedParticipant
from app.domain.provider_errors import BadCredentials, CredentialsKeyError, ProviderError
from app.providers import runsignup
from app.providers.base import ParticipantSync, RemovedFeed
from app.providers.copernico import Copernico
from app.providers.ctlive import CtLive
from app.providers.eventbrite import Eventbrite
from app.providers.http import DEFAULT_RETRY, RetryPolicy
from app.providers.registry import EXPORT_IMPORTS, SYNC_ADAPTERS
from app.providers.runsignup import RunSignup
from app.providers.secrets import KEY_VARIABLE, CredentialBox
from app.services.events import check_writable, find_event
from app.settings import Settings

__all__ = ["ClaimedSync", "EventSync", "ProviderAccount"]

log = logging.getLogger(__name__)

# A running sync writes how many participants it has read this often, from its own connection.
PROGRESS_EVERY_S = 0.5
# The scheduler looks for due syncs this often.
SCHEDULER_EVERY_S = 15.0
# Syncs one scheduler claims per look; the rest wait for the next look (or another worker).
CLAIM_LIMIT = 5
# The next incremental run asks for changes since the run's start minus this: a change made
# while a run was reading, or a provider clock a little behind ours, is read again, not lost.
CURSOR_OVERLAP = timedelta(minutes=2)
MIN_EVERY, MAX_EVERY = 5, 1440
_REJECTS_SHOWN = 5
_NO_SYNC = "There is no such sync for this event."
_NO_ACCOUNT = "There is no such provider account."

# Participant fields every sync provider fills: all but chips and VIP, which some lack.
_COMMON = OPTIONAL_FIELDS - {"chip", "vip"}


@dataclass(frozen=True, slots=True)
class CredentialField:
    name: str
    label: str
    # Typed into a password box; no credential is ever rendered back, secret or not.
    secret: bool = True
    multiline: bool = False
    hint: str = ""


@dataclass(frozen=True, slots=True)
class SyncProvider:
    slug: str
    name: str  # the adapter's name, which is also participants.source
    fields: tuple[CredentialField, ...]
    # The API can list only what changed since a time (RunSignup, Eventbrite).
    incremental: bool
    given: frozenset[str]
    how: str


@dataclass(frozen=True, slots=True)
class ExportOnlyProvider:
    slug: str
    name: str
    description: str


SYNC_PROVIDERS: dict[str, SyncProvider] = {
    "runsignup": SyncProvider(
        slug="runsignup",
        name=RunSignup.name,
        fields=(
            CredentialField("rsu_api_key", "API key", secret=False),
            CredentialField("rsu_api_secret", "API secret"),
        ),
        incremental=True,
        given=_COMMON | {"chip"},
        how=(
            "Syncs over the RunSignup API. Re-syncs ask only for registrations changed since "
            "the last run (modified_after_timestamp) and read the removed-participants feed."
        ),
    ),
    "eventbrite": SyncProvider(
        slug="eventbrite",
        name=Eventbrite.name,
        fields=(
            CredentialField("token", "Private token"),
            CredentialField("organization_id", "Organization id", secret=False),
        ),
        incremental=True,
        given=_COMMON,
        how=(
            "Syncs attendees over the Eventbrite API (ticket classes are the sub-events). "
            "Re-syncs ask only for attendees changed since the last run (changed_since); "
            "the bib comes from a registration question named like 'bib'."
        ),
    ),
    "ctlive": SyncProvider(
        slug="ctlive",
        name=CtLive.name,
        fields=(
            CredentialField("client_id", "Client id", secret=False),
            CredentialField("user_id", "User (CT Live login e-mail)", secret=False),
            CredentialField("password", "Password"),
        ),
        incremental=False,
        given=_COMMON,
        how=(
            "Syncs entries over the ChronoTrack Live API. CT Live has no changed-since "
            "filter, so every run reads the whole entry list. Entries carry no chip."
        ),
    ),
    "copernico": SyncProvider(
        slug="copernico",
        name=Copernico.name,
        fields=(
            CredentialField("account_email", "Preset account e-mail", secret=False),
            CredentialField("preset_name", "Preset name", secret=False),
            CredentialField("api_key", "API key (optional)"),
            CredentialField(
                "races",
                "Races",
                secret=False,
                multiline=True,
                hint="One race per line: the race slug, a colon, then its event names "
                "separated by commas (e.g. my-race-2026: 10K, 21K).",
            ),
        ),
        incremental=False,
        given=(_COMMON - {"age", "city", "state", "country"}) | {"chip"},
        how=(
            "Reads your Copernico preset export for each event. Copernico cannot list your "
            "races, so you name them here, and the preset is only checked on the first run. "
            "Every run reads the whole list."
        ),
    ),
}
_OPTIONAL_FIELDS = {("copernico", "api_key")}
assert {p.name for p in SYNC_PROVIDERS.values()} == set(SYNC_ADAPTERS)

EXPORT_ONLY: dict[str, ExportOnlyProvider] = {
    name.lower().replace(" ", "").replace(".com", ""): ExportOnlyProvider(
        slug=name.lower().replace(" ", "").replace(".com", ""),
        name=name,
        description=adapter.description,
    )
    for name, adapter in EXPORT_IMPORTS.items()
}
_BY_NAME = {p.name: p for p in SYNC_PROVIDERS.values()}


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """What a sync needs beyond the database: the credentials key and where providers live."""

    credentials_key: str = field(default="", repr=False)
    # Provider slug -> API base URL; a missing one is the provider's public address.
    base_urls: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy = DEFAULT_RETRY
    # Participants per page (RunSignup, CT Live); None keeps each adapter's default.
    page_size: int | None = None
    progress_every_s: float = PROGRESS_EVERY_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncConfig:
        urls = {
            "runsignup": settings.runsignup_base_url,
            "eventbrite": settings.eventbrite_base_url,
            "ctlive": settings.ctlive_base_url,
            "copernico": settings.copernico_base_url,
        }
        return cls(
            credentials_key=settings.credentials_key,
            base_urls={slug: url for slug, url in urls.items() if url},
        )

    def box(self) -> CredentialBox:
        return CredentialBox.from_env({KEY_VARIABLE: self.credentials_key})


def provider_of(slug: str) -> SyncProvider:
    provider = SYNC_PROVIDERS.get(slug)
    if provider is not None:
        return provider
    if slug in EXPORT_ONLY:
        raise InvalidInput(
            f"{EXPORT_ONLY[slug].name} cannot be synced: {EXPORT_ONLY[slug].description}"
        )
    raise NotFound("There is no such provider.")


def _box(config: SyncConfig) -> CredentialBox:
    try:
        return config.box()
    except CredentialsKeyError as exc:
        raise Unavailable(str(exc)) from exc


def parse_copernico_races(text: str) -> dict[str, list[str]]:
    races: dict[str, list[str]] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        slug, colon, rest = line.partition(":")
        events = [e.strip() for e in rest.split(",") if e.strip()]
        if not colon or not slug.strip() or not events:
            raise InvalidInput(
                f"Races, line {n}: write the race slug, a colon and its event names "
                "(e.g. my-race-2026: 10K, 21K)."
            )
        races[slug.strip()] = events
    if not races:
        raise InvalidInput("Name at least one race (slug: event names).")
    return races


def _adapter(
    provider: SyncProvider, credentials: Mapping[str, str], config: SyncConfig
) -> ParticipantSync:
    options: dict[str, Any] = {"retry": config.retry}
    base_url = config.base_urls.get(provider.slug)
    if base_url:
        options["base_url"] = base_url
    if provider.slug == "runsignup":
        return RunSignup(credentials, page_size=config.page_size or runsignup.PAGE_SIZE, **options)
    if provider.slug == "eventbrite":
        return Eventbrite(credentials, **options)
    if provider.slug == "ctlive":
        if config.page_size:
            options["page_size"] = config.page_size
        return CtLive(credentials, **options)
    races = parse_copernico_races(credentials.get("races", ""))
    return Copernico(credentials, races, **options)


def _clean_credentials(provider: SyncProvider, values: Mapping[str, str]) -> dict[str, str]:
    creds: dict[str, str] = {}
    missing: list[str] = []
    for f in provider.fields:
        value = (values.get(f.name) or "").strip()
        if value:
            creds[f.name] = value
        elif (provider.slug, f.name) not in _OPTIONAL_FIELDS:
            missing.append(f.label)
    if missing:
        raise InvalidInput("Fill in: " + ", ".join(missing) + ".")
    if provider.slug == "copernico":
        parse_copernico_races(creds["races"])
    return creds


def _plain(exc: ProviderError) -> AppError:
    """A provider refusing our credentials is the tenant's input, not our user's sign-in."""
    if isinstance(exc, BadCredentials):
        return InvalidInput(exc.message)
    return exc


async def connect_account(
    pool: Pool,
    config: SyncConfig,
    tenant_id: int,
    *,
    user_id: int | None,
    provider_slug: str,
    label: str,
    values: Mapping[str, str],
) -> ProviderAccount:
    """Check the credentials by listing races once, then store them encrypted.

    Credentials the provider refuses are not stored; the error says what the provider said.
    """
    provider = provider_of(provider_slug)
    label = label.strip() or provider.name
    if len(label) > 100:
        raise InvalidInput("Keep the account name under 100 characters.")
    creds = _clean_credentials(provider, values)
    box = _box(config)
    try:
        adapter = _adapter(provider, creds, config)
        try:
            await adapter.list_races()
        finally:
            await adapter.aclose()
    except ProviderError as exc:
        raise _plain(exc) from None
    secret = box.encrypt(creds)
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.insert_account(
            conn, tenant_id, provider=provider.slug, label=label, secret=secret, created_by=user_id
        )


async def list_accounts(pool: Pool, tenant_id: int) -> list[ProviderAccount]:
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.list_accounts(conn, tenant_id)


async def delete_account(pool: Pool, tenant_id: int, account_id: int) -> None:
    """The account and its syncs; participants already synced stay."""
    async with tenant_connection(pool, tenant_id) as conn:
        if not await db.delete_account(conn, tenant_id, account_id):
            raise NotFound(_NO_ACCOUNT)


async def get_event(pool: Pool, tenant_id: int, event_id: int) -> Event:
    async with tenant_connection(pool, tenant_id) as conn:
        return await find_event(conn, tenant_id, event_id)


async def _open(
    pool: Pool, config: SyncConfig, tenant_id: int, account_id: int
) -> tuple[ProviderAccount, SyncProvider, ParticipantSync]:
    async with tenant_connection(pool, tenant_id) as conn:
        account = await db.get_account(conn, tenant_id, account_id)
        secret = await db.get_account_secret(conn, tenant_id, account_id)
    if account is None or secret is None:
        raise NotFound(_NO_ACCOUNT)
    provider = provider_of(account.provider)
    try:
        creds = _box(config).decrypt(secret)
    except CredentialsKeyError as exc:
        raise Unavailable(str(exc)) from exc
    try:
        return account, provider, _adapter(provider, creds, config)
    except ProviderError as exc:
        raise _plain(exc) from None


async def account_races(
    pool: Pool, config: SyncConfig, tenant_id: int, account_id: int
) -> tuple[ProviderAccount, list[ProviderRace]]:
    """The account's races with their sub-events, as the provider lists them now."""
    account, _, adapter = await _open(pool, config, tenant_id, account_id)
    try:
        return account, await adapter.list_races()
    except ProviderError as exc:
        raise _plain(exc) from None
    finally:
        await adapter.aclose()


async def account_race(
    pool: Pool, config: SyncConfig, tenant_id: int, account_id: int, race_id: str
) -> tuple[ProviderAccount, ProviderRace]:
    account, races = await account_races(pool, config, tenant_id, account_id)
    for race in races:
        if race.source_id == race_id:
            return account, race
    raise NotFound(f"{account.label} has no race {race_id!r} (any more).")


@dataclass(frozen=True, slots=True)
class SyncOverview:
    event: Event
    syncs: list[EventSync]
    accounts: list[ProviderAccount]


async def overview(pool: Pool, tenant_id: int, event_id: int) -> SyncOverview:
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        syncs = await db.list_syncs(conn, tenant_id, event_id)
        accounts = await db.list_accounts(conn, tenant_id)
    return SyncOverview(event, syncs, accounts)


async def get_sync(pool: Pool, tenant_id: int, event_id: int, sync_id: int) -> EventSync:
    async with tenant_connection(pool, tenant_id) as conn:
        sync = await db.get_sync(conn, tenant_id, sync_id, event_id)
    if sync is None:
        raise NotFound(_NO_SYNC)
    return sync


async def existing_map(
    pool: Pool, tenant_id: int, event_id: int, account_id: int, race_id: str
) -> dict[str, str] | None:
    """The saved sub-event map of this event's sync of that race, if there is one."""
    async with tenant_connection(pool, tenant_id) as conn:
        sync_id = await db.find_sync(conn, tenant_id, event_id, account_id, race_id)
        sync = await db.get_sync(conn, tenant_id, sync_id, event_id) if sync_id else None
    return dict(sync.sub_events) if sync else None


async def check_event_and_account(
    pool: Pool, tenant_id: int, event_id: int, account_id: int | None
) -> tuple[Event, ProviderAccount | None]:
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        account = await db.get_account(conn, tenant_id, account_id) if account_id else None
    if account_id and account is None:
        raise NotFound(_NO_ACCOUNT)
    return event, account


async def save_sync(
    pool: Pool,
    config: SyncConfig,
    tenant_id: int,
    event_id: int,
    *,
    account_id: int,
    race_id: str,
    chosen: Mapping[str, str],
) -> int:
    """Keep which sub-events of a race feed the event, and under which name.

    `chosen` maps provider sub-event ids to a name here (blank: the provider's name); ids not
    in it are left out. Checked against the race as the provider lists it now.
    """
    event, _ = await check_event_and_account(pool, tenant_id, event_id, account_id)
    check_writable(event)
    _, race = await account_race(pool, config, tenant_id, account_id, race_id)
    known = {s.source_id: s.name for s in race.sub_events}
    mapping: dict[str, str] = {}
    for sub_id, name in chosen.items():
        if sub_id not in known:
            raise InvalidInput(f"{race.name} has no sub-event {sub_id!r}; reload the page.")
        name = name.strip() or known[sub_id] or sub_id
        if len(name) > 100:
            raise InvalidInput("Keep sub-event names under 100 characters.")
        mapping[sub_id] = name
    if not mapping:
        raise InvalidInput("Choose at least one sub-event to sync.")
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.upsert_sync(
            conn,
            tenant_id,
            event_id,
            account_id=account_id,
            race_id=race.source_id,
            race_name=race.name,
            sub_events=mapping,
            # A schedule ends at the race start by default (one already past: no default).
            until_at=race.start if race.start and race.start > datetime.now(UTC) else None,
        )


def parse_schedule(
    every_minutes: str, until: str, zone: str, now: datetime
) -> tuple[int | None, datetime | None]:
    """Form values -> (minutes, end in UTC); blank minutes switch re-syncing off."""
    every_text = every_minutes.strip()
    if not every_text or every_text == "0":
        return None, None
    try:
        every = int(every_text)
    except ValueError:
        raise InvalidInput("Give the interval in whole minutes.") from None
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise InvalidInput(
            f"Re-sync every {MIN_EVERY} to {MAX_EVERY} minutes (a day); providers limit how "
            "often we may call them."
        )
    until_text = until.strip()
    if not until_text:
        return every, None
    try:
        local = datetime.fromisoformat(until_text)
    except ValueError:
        raise InvalidInput("Give the end of the schedule as a date and time.") from None
    end = (local if local.tzinfo else local.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)
    if end <= now:
        raise InvalidInput("The end of the schedule is in the past.")
    return every, end


async def set_schedule(
    pool: Pool, tenant_id: int, event_id: int, sync_id: int, *, every_minutes: str, until: str
) -> EventSync:
    """Re-sync every N minutes until a time (the race start by default); the first scheduled
    run starts within SCHEDULER_EVERY_S."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        if await db.get_sync(conn, tenant_id, sync_id, event_id) is None:
            raise NotFound(_NO_SYNC)
        check_writable(event)
        now = datetime.now(UTC)
        every, end = parse_schedule(every_minutes, until, event.time_zone, now)
        await db.set_schedule(
            conn,
            tenant_id,
            event_id,
            sync_id,
            every_minutes=every,
            until_at=end,
            next_run_at=now if every else None,
        )
        sync = await db.get_sync(conn, tenant_id, sync_id, event_id)
    assert sync is not None
    return sync


async def delete_sync(pool: Pool, tenant_id: int, event_id: int, sync_id: int) -> None:
    async with tenant_connection(pool, tenant_id) as conn:
        sync = await db.get_sync(conn, tenant_id, sync_id, event_id)
        if sync is None:
            raise NotFound(_NO_SYNC)
        if not await db.delete_sync(conn, tenant_id, event_id, sync_id):
            raise Conflict("This sync is running; remove it when the run has finished.")


async def start_run(pool: Pool, tenant_id: int, event_id: int, sync_id: int) -> bool:
    """Mark a sync running for a run now; False when a run is under way already."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        if await db.get_sync(conn, tenant_id, sync_id, event_id) is None:
            raise NotFound(_NO_SYNC)
        check_writable(event)
        return await db.claim_sync(conn, tenant_id, sync_id)


async def claim_due(pool: Pool, limit: int = CLAIM_LIMIT) -> list[ClaimedSync]:
    """Due syncs of every tenant, claimed for this worker (the owner role sees all tenants;
    each run then works as its tenant)."""
    async with connection(pool) as conn:
        return await db.claim_due_syncs(conn, limit=limit)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    ok: bool
    message: str
    counts: dict[str, int]


@dataclass(slots=True)
class _Tally:
    read: int = 0
    no_bib: int = 0
    unmapped: int = 0


def _summary(counts: Mapping[str, int], rejected: Sequence[str], incremental: bool) -> str:
    parts = [
        f"{counts['added']} added",
        f"{counts['updated']} updated",
        f"{counts['unchanged']} unchanged",
    ]
    if counts.get("cancelled"):
        parts.append(f"{counts['cancelled']} no longer registered (marked cancelled)")
    if counts.get("withdrawn"):
        parts.append(f"{counts['withdrawn']} withdrawn (removed-participants feed)")
    text = ("Changes since the last run: " if incremental else "Full sync: ") + ", ".join(parts)
    text += "."
    if counts.get("no_bib"):
        n = counts["no_bib"]
        text += f" {n} registration{'s have' if n != 1 else ' has'} no bib yet (not stored)."
    if counts.get("rejected"):
        text += f" {counts['rejected']} skipped: " + "; ".join(rejected[:_REJECTS_SHOWN])
        text += "…" if len(rejected) > _REJECTS_SHOWN else "."
    return text


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.message} Nothing was changed."
    if isinstance(exc, (AppError, CredentialsKeyError)):
        return f"{exc} Nothing was changed."
    return "The sync stopped on an unexpected error (it has been logged). Nothing was changed."


async def _record(pool: Pool, tenant_id: int, sync_id: int, progress: int, message: str) -> None:
    try:
        async with tenant_connection(pool, tenant_id) as conn:
            await db.finish_failed(conn, tenant_id, sync_id, progress=progress, message=message)
    except Exception:
        log.exception("could not record the failure of sync %s", sync_id)


async def _write_progress(
    pool: Pool, tenant_id: int, sync_id: int, tally: _Tally, every: float
) -> None:
    last = 0
    while True:
        await asyncio.sleep(every)
        if tally.read == last:
            continue
        last = tally.read
        try:
            async with tenant_connection(pool, tenant_id, wait=every * 4) as conn:
                await db.set_progress(conn, tenant_id, sync_id, last)
        except Exception as exc:
            # Progress is a courtesy: the run itself, not this writer, decides the outcome.
            log.debug("progress of sync %s not written: %s", sync_id, type(exc).__name__)


async def run_claimed(
    pool: Pool, config: SyncConfig, tenant_id: int, sync_id: int, *, full: bool = False
) -> RunOutcome:
    """Run a claimed sync to its end and record how it went; it never raises for a provider,
    data or credentials problem, and a failed run changes no participant."""
    tally = _Tally()
    ticker: asyncio.Task[None] | None = None

    async def stop_ticker() -> None:
        nonlocal ticker
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            ticker = None

    try:
        async with tenant_connection(pool, tenant_id) as conn:
            sync = await db.get_sync(conn, tenant_id, sync_id)
        if sync is None:
            raise NotFound(_NO_SYNC)
        _, provider, adapter = await _open(pool, config, tenant_id, sync.account_id)
        try:
            ticker = asyncio.create_task(
                _write_progress(pool, tenant_id, sync_id, tally, config.progress_every_s),
                name=f"sync-progress-{sync_id}",
            )
            return await _run(pool, tenant_id, sync, provider, adapter, tally, full, stop_ticker)
        finally:
            await adapter.aclose()
    except asyncio.CancelledError:
        await stop_ticker()
        message = "The sync was interrupted (the app stopped). Nothing was changed."
        await asyncio.shield(_record(pool, tenant_id, sync_id, tally.read, message))
        raise
    except Exception as exc:
        await stop_ticker()
        message = _failure(exc)
        if isinstance(exc, (AppError, CredentialsKeyError)):
            # Provider messages are written not to carry credentials or request URLs.
            log.warning("sync %s failed: %s", sync_id, message)
        else:
            log.exception("sync %s failed", sync_id)
        await _record(pool, tenant_id, sync_id, tally.read, message)
        return RunOutcome(False, message, {})
    finally:
        await stop_ticker()


async def _run(
    pool: Pool,
    tenant_id: int,
    sync: EventSync,
    provider: SyncProvider,
    adapter: ParticipantSync,
    tally: _Tally,
    full: bool,
    stop_ticker: Callable[[], Awaitable[None]],
) -> RunOutcome:
    started = datetime.now(UTC)
    incremental = provider.incremental and not full and sync.cursor_at is not None
    since = sync.cursor_at if incremental else None
    sub_ids = tuple(sync.sub_events)
    kept: list[str] = []

    async def rows() -> AsyncIterator[tuple[int, ProviderParticipant]]:
        line = 0
        async for p in adapter.participants(sync.race_id, sub_ids, since):
            tally.read += 1
            name = sync.sub_events.get(p.sub_event_id)
            if name is None:
                tally.unmapped += 1
                continue
            if not p.bib:
                # Not storable yet (bib is the key here); nor is it missing from the race.
                tally.no_bib += 1
                if p.source_id:
                    kept.append(f"id:{p.source_id}")
                continue
            line += 1
            yield line, replace(p, sub_event_name=name)

    # Withdrawn registrations first: a full run then does not count them as vanished (and
    # mark them cancelled) before their real status (transferred, deferred…) is applied.
    gone: list[RemovedParticipant] = []
    if isinstance(adapter, RemovedFeed):
        gone = [r async for r in adapter.removed_participants(sync.race_id, sub_ids, since)]
        kept.extend(f"id:{r.source_id}" for r in gone)

    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, sync.event_id)
        check_writable(event)
        tag_mode = await catalog.lock_event_tag_mode(conn, tenant_id, sync.event_id)
        outcome = await import_participants(
            conn,
            tenant_id,
            sync.event_id,
            rows(),
            given=provider.given,
            tag_mode=tag_mode or event.tag_mode,
            removal="keep" if incremental else "cancel",
            source_scope=adapter.name,
            kept_keys=kept,
        )
        withdrawn = 0
        for removed in gone:
            changed = await set_status_by_source_id(
                conn,
                tenant_id,
                sync.event_id,
                source=adapter.name,
                source_id=removed.source_id,
                status=removed.status,
            )
            withdrawn += int(changed)
        await stop_ticker()
        counts = {
            "read": tally.read,
            "added": outcome.counts.added,
            "updated": outcome.counts.updated,
            "unchanged": outcome.counts.unchanged,
            # An incremental run only sees what changed: absence means nothing there.
            "cancelled": 0 if incremental else outcome.counts.missing,
            "withdrawn": withdrawn,
            "no_bib": tally.no_bib,
            "unmapped": tally.unmapped,
            "rejected": len(outcome.rejected),
        }
        rejected = [f"row {e.row}: {e.reason}" for e in outcome.rejected]
        message = _summary(counts, rejected, incremental)
        await db.finish_done(
            conn,
            tenant_id,
            sync.id,
            progress=tally.read,
            counts={**counts, "incremental": incremental},
            message=message,
            cursor_at=started - CURSOR_OVERLAP,
        )
    return RunOutcome(True, message, counts)


async def run_now(
    pool: Pool,
    config: SyncConfig,
    tenant_id: int,
    event_id: int,
    sync_id: int,
    *,
    full: bool = False,
) -> RunOutcome | None:
    """Claim and run one sync here and now; None when it was running already."""
    if not await start_run(pool, tenant_id, event_id, sync_id):
        return None
    return await run_claimed(pool, config, tenant_id, sync_id, full=full)


class SyncScheduler:
    """Runs syncs in the background: those asked for now, and every SCHEDULER_EVERY_S the
    due scheduled ones. Several app workers may each run one; a claim goes to one of them."""

    def __init__(
        self,
        pool: Pool,
        config: SyncConfig,
        *,
        every_s: float = SCHEDULER_EVERY_S,
        claim_limit: int = CLAIM_LIMIT,
    ) -> None:
        self._pool = pool
        self.config = config
        self._every_s = every_s
        self._claim_limit = claim_limit
        self._loop: asyncio.Task[None] | None = None
        self._runs: set[asyncio.Task[RunOutcome]] = set()

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._forever(), name="sync-scheduler")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop looking; runs under way get `grace_s` to finish, then are cancelled (their
        transactions roll back and the sync says it was interrupted)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._runs:
            _, pending = await asyncio.wait(set(self._runs), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def spawn(self, tenant_id: int, sync_id: int, *, full: bool = False) -> None:
        """Run a claimed sync in the background."""
        task = asyncio.create_task(
            run_claimed(self._pool, self.config, tenant_id, sync_id, full=full),
            name=f"sync-{sync_id}",
        )
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def idle(self) -> None:
        """Wait until no run of this scheduler is under way."""
        while self._runs:
            await asyncio.gather(*set(self._runs), return_exceptions=True)

    async def tick(self) -> list[ClaimedSync]:
        # Each run holds a pooled connection throughout: never more than claim_limit at once,
        # so syncs cannot starve the pages of connections.
        free = self._claim_limit - len(self._runs)
        if free <= 0:
            return []
        claimed = await claim_due(self._pool, free)
        for c in claimed:
            self.spawn(c.tenant_id, c.id)
        return claimed

    async def _forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("looking for due provider syncs failed; trying again later")
            await asyncio.sleep(self._every_s)
