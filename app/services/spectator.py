"""The public spectator page of a display: search by bib or name, and a runner's own card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.db import catalog, spectator
from app.db.pool import Pool, tenant_connection
from app.db.spectator import Found, Runner
from app.domain.display_pipeline import Places
from app.domain.errors import NotFound
from app.domain.splits import Split, splits
from app.services.live import DisplayHub, zone_of

MAX_QUERY = 60


@dataclass(frozen=True, slots=True)
class RunnerCard:
    runner: Runner
    splits: list[Split]
    places: Places | None


async def search(pool: Pool, hub: DisplayHub[Any], code: str, text: str) -> list[Found]:
    """Participants of the display's event by bib or part of a name (none for a blank query)."""
    display = await hub.display(code)
    text = " ".join(text.split())[:MAX_QUERY]
    if not text:
        return []
    async with tenant_connection(pool, display.tenant_id) as conn:
        return await spectator.search(conn, display.tenant_id, display.event_id, text)


async def runner_card(
    pool: Pool, hub: DisplayHub[Any], code: str, participant_id: int
) -> RunnerCard:
    display = await hub.display(code)
    state = await hub.state(code, plain=True)
    async with tenant_connection(pool, display.tenant_id) as conn:
        event = await catalog.get_event(conn, display.tenant_id, display.event_id)
        found = await spectator.runner(conn, display.tenant_id, display.event_id, participant_id)
        if event is None or found is None:
            raise NotFound("There is no such runner in this race.")
        locations = await catalog.list_event_locations(conn, display.tenant_id, event.id)
        reads = await spectator.reads_of(
            conn, display.tenant_id, event.id, found.chips, event.tag_mode
        )
    card = splits(
        reads, locations, state.snapshot.gun_at, event.min_finish_s, zone_of(event.time_zone)
    )
    places = await hub.places_of(code, participant_id)
    return RunnerCard(found, card, places)
