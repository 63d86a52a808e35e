"""Copernico (Timingsense): participants from a preset export, one athlete's full record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from app.domain.participants_in import (
    ProviderParticipant,
    ProviderRace,
    ProviderSubEvent,
    Status,
    fix_mojibake,
    normalise_gender,
    parse_birth_date,
    text_of,
)
from app.domain.provider_errors import BadCredentials, MalformedPayload, ProviderUnavailable
from app.providers.base import Credentials
from app.providers.http import DEFAULT_RETRY, DEFAULT_TIMEOUT, ProviderHttp, RetryPolicy

BASE_URL = "https://public-api.copernico.cloud"
NAME = "Copernico"
_STATUS: dict[str, Status] = {"dnf": "dnf", "dns": "dns", "notstarted": "registered"}


class Copernico:
    """Participant sync from Copernico.

    Copernico has no public "all athletes of a race" endpoint: the bulk read is the tenant's
    *preset* export (`account_email` + `preset_name`, one body per event, no auth). Races are
    therefore configured by the tenant (`races`: race slug → event names), not listed from the
    API. `athlete()` reads one full record with the `api_key` (x-api-key header); it carries
    the chip codes (an array). Full re-pull only; Copernico pushes changes by webhook instead.
    """

    name: ClassVar[str] = NAME
    is_sync: ClassVar[bool] = True

    def __init__(
        self,
        credentials: Mapping[str, str],
        races: Mapping[str, Sequence[str]],
        *,
        base_url: str = BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._credentials = Credentials(credentials)
        self._races = {slug: tuple(events) for slug, events in races.items()}
        headers = {"Accept": "application/json"}
        self._http = ProviderHttp(NAME, base_url, timeout=timeout, retry=retry, headers=headers)

    def __repr__(self) -> str:
        return f"Copernico(credentials={self._credentials!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_races(self) -> list[ProviderRace]:
        return [
            ProviderRace(
                source=NAME,
                source_id=slug,
                name=slug,
                sub_events=tuple(ProviderSubEvent(source_id=e, name=e) for e in events),
            )
            for slug, events in self._races.items()
        ]

    async def participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[ProviderParticipant]:
        """Preset rows of each event (`sub_event_ids` are event names); `since` is ignored."""
        email = self._credentials.get("account_email")
        preset = self._credentials.get("preset_name")
        if not (email and preset):
            raise BadCredentials(NAME, "the preset account e-mail and preset name are required")
        events = sub_event_ids or self._races.get(race_id, ())
        for event in events:
            what = f"preset export of event {event!r}"
            path = (
                f"/api/races/{quote(race_id, safe='')}/preset/"
                f"{quote(f'{email}:::{preset}', safe='@:')}/{quote(event, safe='')}"
            )
            body, _ = await self._http.get_json(path, what=what)
            if isinstance(body, Mapping):
                body = body.get("results", body.get("data"))
            if not isinstance(body, list):
                raise MalformedPayload(NAME, what, "expected a list of rows")
            for i, row in enumerate(body):
                yield _map_preset_row(row, race_id, event, f"{what}, row {i}")

    async def athlete(self, race_id: str, participant_id: str) -> list[ProviderParticipant]:
        """One athlete's full record, one participant per event entered."""
        what = f"athlete {participant_id}"
        body, _ = await self._http.get_json(
            f"/api/races/{quote(race_id, safe='')}/athlete/{quote(participant_id, safe='')}/full",
            what=what,
            # Only the athlete API takes the key; the preset export is public.
            headers={"x-api-key": self._credentials.get("api_key")},
        )
        result = body.get("result") if isinstance(body, Mapping) else None
        if isinstance(result, Mapping) and result.get("code") not in (0, None):
            raise ProviderUnavailable(NAME, f"code {result.get('code')} for {what}")
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping) or not text_of(data.get("id")):
            raise MalformedPayload(NAME, what, "field 'data.id' is missing")
        entries = data.get("events")
        if not isinstance(entries, list):
            raise MalformedPayload(NAME, what, "field 'data.events' is not a list")
        return [
            _map_full(data, entry, race_id, f"{what}, events[{i}]")
            for i, entry in enumerate(entries)
        ]


def _t(value: object) -> str:
    return fix_mojibake(text_of(value))


def _chips(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(t for t in (text_of(v) for v in value) if t)
    text = text_of(value)
    return (text,) if text else ()


def _status(entry: Mapping[str, Any]) -> Status:
    real = text_of(entry.get("realStatus") or entry.get("status")).lower()
    return _STATUS.get(real, "registered")


def _dob(value: object, where: str) -> Any:
    try:
        return parse_birth_date(value)
    except ValueError:
        raise MalformedPayload(NAME, where, f"field 'birthdate' is {text_of(value)!r}") from None


def _map_preset_row(row: Any, race_id: str, event: str, where: str) -> ProviderParticipant:
    if not isinstance(row, Mapping):
        raise MalformedPayload(NAME, where, "not an object")
    dorsal = _t(row.get("dorsal"))
    # Presets rarely export the athlete id; the bib within the event is then the key.
    source_id = _t(row.get("id")) or (f"{event}/{dorsal}" if dorsal else "")
    if not source_id:
        raise MalformedPayload(NAME, where, "neither 'id' nor 'dorsal' is present")
    custom = {k: _t(row[k]) for k in ("category", "wave") if _t(row.get(k))}
    return ProviderParticipant(
        source=NAME,
        source_id=source_id,
        race_id=race_id,
        sub_event_id=event,
        sub_event_name=event,
        bib=dorsal,
        chips=_chips(row.get("chip")),
        first_name=_t(row.get("name")),
        last_name=_t(row.get("surname")),
        gender=normalise_gender(row.get("gender")),
        birth_date=_dob(row.get("birthdate"), where),
        team=_t(row.get("club")) or _t(row.get("team")),
        status=_status(row),
        custom=custom,
        raw=dict(row),
    )


def _map_full(data: Mapping[str, Any], entry: Any, race_id: str, where: str) -> ProviderParticipant:
    if not isinstance(entry, Mapping) or not text_of(entry.get("event")):
        raise MalformedPayload(NAME, where, "field 'event' is missing")
    custom = {k: _t(entry[k]) for k in ("category", "wave") if _t(entry.get(k))}
    return ProviderParticipant(
        source=NAME,
        source_id=_t(data["id"]),
        race_id=race_id,
        sub_event_id=_t(entry["event"]),
        sub_event_name=_t(entry["event"]),
        bib=_t(entry.get("dorsal")),
        chips=_chips(entry.get("chip")),
        first_name=_t(data.get("name")),
        last_name=_t(data.get("surname")),
        gender=normalise_gender(data.get("gender")),
        birth_date=_dob(data.get("birthdate"), where),
        team=_t(entry.get("club")) or _t(entry.get("team")),
        status=_status(entry),
        vip=entry.get("featured") is True,
        custom=custom,
        raw=dict(data),
    )
