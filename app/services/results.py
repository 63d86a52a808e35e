"""Results: computed from an event's reads, exported as files, posted to RunSignUp."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.db import catalog
from app.db.pool import Pool, tenant_connection
from app.db.results import results_input
from app.domain.catalog import Event
from app.domain.errors import InvalidInput, NotFound
from app.domain.participants_in import ResultRow
from app.domain.provider_errors import BadCredentials, ProviderError
from app.domain.results import DEFAULT_RANK_BY, RANK_BY, Placing, RankBy, compute_results
from app.providers.results_out import (
    athlinks_results_import,
    runsignup_results_csv,
    ultrasignup_results_csv,
)
from app.providers.runsignup import RunSignup
from app.services import provider_sync
from app.services.events import find_event
from app.services.provider_sync import EventSync, SyncConfig

CSV_FORMATS = {"ultrasignup": "UltraSignup", "runsignup": "RunSignUp"}


@dataclass(frozen=True, slots=True)
class EventResults:
    event: Event
    placings: list[Placing]
    rank_by: RankBy

    @property
    def sub_events(self) -> list[str]:
        """The distances that have a result line, in the order the lines come."""
        return list(dict.fromkeys(p.sub_event for p in self.placings))

    def rows(self, sub_event: str | None = None) -> list[ResultRow]:
        if sub_event is not None and sub_event not in self.sub_events:
            raise NotFound(f"No results for the distance {sub_event!r}.")
        return [p.row for p in self.placings if sub_event is None or p.sub_event == sub_event]


def rank_by_of(value: str) -> RankBy:
    for choice in RANK_BY:
        if value == choice:
            return choice
    if not value:
        return DEFAULT_RANK_BY
    raise InvalidInput("Rank by gun or by chip time.")


async def event_placings(
    pool: Pool, tenant_id: int, event_id: int, rank_by: RankBy = DEFAULT_RANK_BY
) -> EventResults:
    """The event's results as of now, every line with its distance and gender place."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        locations = await catalog.list_event_locations(conn, tenant_id, event_id)
        data = await results_input(conn, tenant_id, event_id)
    placings = compute_results(
        reads=data.reads,
        guns=data.guns,
        entrants=data.entrants,
        chip_bibs=data.chip_bibs,
        location_kinds={loc.name: loc.kind for loc in locations},
        tag_mode=event.tag_mode,
        time_zone=event.time_zone,
        rank_by=rank_by,
        min_finish_s=event.min_finish_s,
    )
    return EventResults(event, placings, rank_by)


async def event_results(
    pool: Pool, tenant_id: int, event_id: int, rank_by: RankBy = DEFAULT_RANK_BY
) -> list[ResultRow]:
    """The rows the results sites take: finishers per distance, then DNF and DNS."""
    return (await event_placings(pool, tenant_id, event_id, rank_by)).rows()


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "event"


def results_csv(results: EventResults, fmt: str, sub_event: str | None = None) -> tuple[str, str]:
    """(file name, CSV text) in UltraSignup's or RunSignUp's upload columns."""
    if fmt not in CSV_FORMATS:
        raise InvalidInput("Choose the UltraSignup or the RunSignUp format.")
    rows = results.rows(sub_event)
    text = ultrasignup_results_csv(rows) if fmt == "ultrasignup" else runsignup_results_csv(rows)
    parts = [results.event.name, *([sub_event] if sub_event else []), "results", fmt]
    return "-".join(_file_part(p) for p in parts) + ".csv", text


def athlinks_body(
    results: EventResults,
    *,
    sub_event: str | None = None,
    third_party_event_id: str = "",
    third_party_race_id: str = "",
    finalize: bool = False,
) -> tuple[str, dict[str, Any]]:
    """(file name, Athlinks results-import body); ids default to ours (rd-<event>[-<distance>])."""
    rows = results.rows(sub_event)
    event_ref = third_party_event_id.strip() or f"rd-{results.event.id}"
    race_ref = third_party_race_id.strip() or (
        f"{event_ref}-{_file_part(sub_event)}" if sub_event else event_ref
    )
    body = athlinks_results_import(event_ref, race_ref, rows, finalize=finalize)
    parts = [results.event.name, *([sub_event] if sub_event else []), "athlinks"]
    return "-".join(_file_part(p) for p in parts) + ".json", body


@dataclass(frozen=True, slots=True)
class PostedEvent:
    """What went to one RunSignUp event (distance), and its answer."""

    provider_event_id: str
    sub_event: str
    finishers: int
    dnf: int
    dns: int
    response: Any = None

    @property
    def sent(self) -> int:
        return self.finishers + self.dnf + self.dns


@dataclass(frozen=True, slots=True)
class PostReport:
    sync: EventSync
    posted: list[PostedEvent] = field(default_factory=list)
    # Distances of the sync with no result line: nothing was sent for them.
    skipped: list[str] = field(default_factory=list)
    # The provider's refusal, worded for the tenant; events after it were not posted.
    error: str = ""
    # The refusal is about the saved credentials or the data, not a passing outage.
    error_is_input: bool = False


async def post_to_runsignup(
    pool: Pool,
    config: SyncConfig,
    tenant_id: int,
    event_id: int,
    sync_id: int,
    rank_by: RankBy = DEFAULT_RANK_BY,
) -> PostReport:
    """Post each mapped RunSignUp event's results (finishers, DNF, DNS) to full-results.

    The sync's sub-event map ({RunSignUp event_id: our distance name}) says which distance
    goes where; results match registrations by bib_num. Stops at the first refusal.
    """
    sync = await provider_sync.get_sync(pool, tenant_id, event_id, sync_id)
    if sync.provider != "runsignup":
        raise InvalidInput("Results can be posted only to a RunSignUp race.")
    results = await event_placings(pool, tenant_id, event_id, rank_by)
    _, _, adapter = await provider_sync._open(pool, config, tenant_id, sync.account_id)
    posted: list[PostedEvent] = []
    skipped: list[str] = []
    try:
        if not isinstance(adapter, RunSignup):  # the sync's provider says it is
            raise InvalidInput("Results can be posted only to a RunSignUp race.")
        for provider_event_id, name in sync.sub_events.items():
            rows = [p.row for p in results.placings if p.sub_event == name]
            if not rows:
                skipped.append(name)
                continue
            try:
                answer = await adapter.post_full_results(sync.race_id, provider_event_id, rows)
            except ProviderError as exc:
                return PostReport(
                    sync,
                    posted,
                    skipped,
                    error=str(exc),
                    error_is_input=isinstance(exc, (BadCredentials, InvalidInput)),
                )
            posted.append(
                PostedEvent(
                    provider_event_id,
                    name,
                    finishers=sum(r.status == "finished" for r in rows),
                    dnf=sum(r.status == "dnf" for r in rows),
                    dns=sum(r.status == "dns" for r in rows),
                    response=answer,
                )
            )
    finally:
        await adapter.aclose()
    return PostReport(sync, posted, skipped)


async def runsignup_syncs(pool: Pool, tenant_id: int, event_id: int) -> list[EventSync]:
    """The event's RunSignUp syncs: where its results can be posted."""
    overview = await provider_sync.overview(pool, tenant_id, event_id)
    return [s for s in overview.syncs if s.provider == "runsignup"]
