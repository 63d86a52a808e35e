"""ChronoTrack Live REST: events, races (distances) and entries paged by X-Ctlive-* headers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx

from app.domain.participants_in import (
    ProviderParticipant,
    ProviderRace,
    ProviderSubEvent,
    Status,
    from_epoch,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
    text_of,
)
from app.domain.provider_errors import BadCredentials, MalformedPayload
from app.providers.base import Credentials
from app.providers.http import DEFAULT_RETRY, DEFAULT_TIMEOUT, ProviderHttp, RetryPolicy

BASE_URL = "https://api.chronotrack.com"
NAME = "CT Live"
PAGE_SIZE = 100  # several clients say 100 is the ceiling
# entry_status values are not documented; unknown ones stay "registered" (raw keeps the text).
_STATUS: dict[str, Status] = {
    "CANCELED": "cancelled",
    "CANCELLED": "cancelled",
    "DELETED": "cancelled",
    "TRANSFERRED": "transferred",
    "DNS": "dns",
    "DNF": "dnf",
}


class CtLive:
    """Participant sync from ChronoTrack Live (full re-pull; CT Live has no changed-since filter).

    Credentials: `client_id`, `user_id` (the CT Live login e-mail) and `password` (sent as its
    SHA-1 hex, as CT Live expects) or `user_pass_sha1`. Entries carry no chip: ChronoTrack
    B-tags are bib-coded, so `chips` stays empty and the chip↔bib table is the tenant's.
    """

    name: ClassVar[str] = NAME
    is_sync: ClassVar[bool] = True

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        base_url: str = BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._credentials = Credentials(credentials)
        c = self._credentials
        if not (c.get("client_id") and c.get("user_id")):
            raise BadCredentials(NAME, "client id and user are required")
        sha1 = c.get("user_pass_sha1") or hashlib.sha1(c.get("password").encode()).hexdigest()
        self._auth = {"client_id": c["client_id"], "user_id": c["user_id"], "user_pass": sha1}
        self.page_size = page_size
        self._http = ProviderHttp(NAME, base_url, timeout=timeout, retry=retry)

    def __repr__(self) -> str:
        return f"CtLive(credentials={self._credentials!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(
        self, path: str, what: str, params: Mapping[str, str | int] | None = None
    ) -> tuple[Any, httpx.Response]:
        return await self._http.get_json(
            path, what=what, params={"format": "json", **(params or {}), **self._auth}
        )

    async def list_races(self) -> list[ProviderRace]:
        what = "events"
        body, _ = await self._get("/api/event", what)
        events = _rows(body, ("event",), what)
        races = []
        for i, event in enumerate(events):
            where = f"{what}, event[{i}]"
            if not isinstance(event, Mapping) or not text_of(event.get("event_id")):
                raise MalformedPayload(NAME, where, "field 'event_id' is missing")
            event_id = text_of(event["event_id"])
            try:
                start = from_epoch(event.get("event_start_time"))
            except ValueError:
                raise MalformedPayload(
                    NAME, where, "field 'event_start_time' is not epoch"
                ) from None
            races.append(
                ProviderRace(
                    source=NAME,
                    source_id=event_id,
                    name=text_of(event.get("event_name")),
                    start=start,
                    sub_events=await self._races(event_id),
                )
            )
        return races

    async def _races(self, event_id: str) -> tuple[ProviderSubEvent, ...]:
        what = f"races of event {event_id}"
        body, _ = await self._get(f"/api/event/{event_id}/race", what)
        # Clients disagree on the key: event_race or races.
        rows = _rows(body, ("event_race", "races"), what)
        subs = []
        for i, race in enumerate(rows):
            if not isinstance(race, Mapping) or not text_of(race.get("race_id")):
                raise MalformedPayload(NAME, f"{what}, [{i}]", "field 'race_id' is missing")
            metres = text_of(race.get("race_course_distance"))
            subs.append(
                ProviderSubEvent(
                    source_id=text_of(race["race_id"]),
                    name=text_of(race.get("race_name")),
                    distance=f"{metres} m" if metres else "",
                )
            )
        return tuple(subs)

    async def participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[ProviderParticipant]:
        """Entries of CT Live event `race_id`; `sub_event_ids` match race ids or race names.

        `since` is ignored: CT Live offers no incremental filter, so every call is a full pull.
        """
        page = 1
        while True:
            what = f"entries page {page}"
            body, response = await self._get(
                f"/api/event/{race_id}/entry",
                what,
                {
                    "page": page,
                    "size": self.page_size,
                    "include_all_fields": "true",
                    "need_athlete_birthdate": "true",
                },
            )
            rows = _rows(body, ("event_entry",), what)
            for i, row in enumerate(rows):
                mapped = _map_entry(row, race_id, f"{what}, event_entry[{i}]")
                if (
                    sub_event_ids
                    and mapped.sub_event_id not in sub_event_ids
                    and mapped.sub_event_name not in sub_event_ids
                ):
                    continue
                yield mapped
            header = response.headers.get("X-Ctlive-Page-Count")
            if not rows:
                return
            if header is None:
                if len(rows) < self.page_size:
                    return
            else:
                try:
                    page_count = int(header)
                except ValueError:
                    raise MalformedPayload(
                        NAME, what, f"header X-Ctlive-Page-Count is {header!r}"
                    ) from None
                if page >= page_count:
                    return
            page += 1


def _rows(body: Any, keys: tuple[str, ...], what: str) -> list[Any]:
    if isinstance(body, Mapping):
        for key in keys:
            value = body.get(key)
            if isinstance(value, list):
                return value
    raise MalformedPayload(NAME, what, f"field {keys[0]!r} is missing or not a list")


def _map_entry(row: Any, event_id: str, where: str) -> ProviderParticipant:
    if not isinstance(row, Mapping) or not text_of(row.get("entry_id")):
        raise MalformedPayload(NAME, where, "field 'entry_id' is missing")
    field = "athlete_birthdate"
    try:
        dob = parse_birth_date(row.get("athlete_birthdate"))
        field = "entry_race_age"
        age = int_or_none(row.get("entry_race_age"))
    except (ValueError, TypeError) as exc:
        raise MalformedPayload(NAME, where, f"field {field!r}: {exc}") from None
    custom = {key: text_of(value) for key, value in row.items() if key.startswith("custom_element")}
    for key in ("reg_choice_name", "wave_name", "bracket_name"):
        if text_of(row.get(key)):
            custom[key] = text_of(row[key])
    return ProviderParticipant(
        source=NAME,
        source_id=text_of(row["entry_id"]),
        race_id=event_id,
        sub_event_id=text_of(row.get("race_id")) or text_of(row.get("race_name")),
        sub_event_name=text_of(row.get("race_name")),
        bib=text_of(row.get("entry_bib")),
        first_name=text_of(row.get("athlete_first_name")),
        last_name=text_of(row.get("athlete_last_name")),
        gender=normalise_gender(row.get("athlete_sex")),
        birth_date=dob,
        age=age,
        city=text_of(row.get("location_city")),
        state=text_of(row.get("location_region")),
        country=normalise_country(row.get("location_country")),
        team=text_of(row.get("team_name")),
        status=_STATUS.get(text_of(row.get("entry_status")).upper(), "registered"),
        custom=custom,
        raw=dict(row),
    )
