"""RunSignup REST: races, participants (keyset paging, incremental), removed feed, finish times."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from app.domain.participants_in import (
    US_EASTERN,
    ProviderParticipant,
    ProviderRace,
    ProviderSubEvent,
    RemovedParticipant,
    ResultRow,
    Status,
    from_epoch,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
    text_of,
)
from app.domain.provider_errors import BadCredentials, MalformedPayload, ProviderUnavailable
from app.providers.base import Credentials
from app.providers.http import (
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    ProviderHttp,
    RetryPolicy,
    decode_json,
)

BASE_URL = "https://runsignup.com"
NAME = "RunSignup"
# RunSignup's documented ceiling is 2500; smaller pages keep one failure cheap.
PAGE_SIZE = 1000
_AUTH_ERROR_CODES = {6}
_REMOVED_STATUS: dict[str, Status] = {
    "transferred": "transferred",
    "deferred": "deferred",
    "cleared": "cancelled",
    "removed": "cancelled",
}


class RunSignup:
    """Participant sync from RunSignup.

    Credentials: either `rsu_api_key` + `rsu_api_secret` (v2 key, secret sent as a header),
    `api_key` + `api_secret` (v1 partner/timer key, both in the query) or `oauth_token`.
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
        self.page_size = min(page_size, 2500)
        headers: dict[str, str] = {"Accept": "application/json"}
        self._auth_params: dict[str, str] = {}
        c = self._credentials
        if "oauth_token" in c:
            headers["Authorization"] = f"Bearer {c['oauth_token']}"
        elif "rsu_api_key" in c:
            self._auth_params["rsu_api_key"] = c["rsu_api_key"]
            headers["X-RSU-API-SECRET"] = c.get("rsu_api_secret")
        elif "api_key" in c:
            self._auth_params["api_key"] = c["api_key"]
            self._auth_params["api_secret"] = c.get("api_secret")
        else:
            raise BadCredentials(NAME, "no API key or OAuth token is saved")
        self._http = ProviderHttp(NAME, base_url, timeout=timeout, retry=retry, headers=headers)

    def __repr__(self) -> str:
        return f"RunSignup(credentials={self._credentials!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, what: str, params: Mapping[str, str | int]) -> Any:
        body, _ = await self._http.get_json(
            path, what=what, params={"format": "json", **params, **self._auth_params}
        )
        _raise_body_error(body, what)
        return body

    async def list_races(self) -> list[ProviderRace]:
        races: list[ProviderRace] = []
        page = 1
        while True:
            what = f"races page {page}"
            body = await self._get(
                "/Rest/races",
                what,
                {"only_partner_races": "T", "events": "T", "results_per_page": 100, "page": page},
            )
            rows = field_list(body, "races", what)
            for i, row in enumerate(rows):
                race = row.get("race") if isinstance(row, Mapping) else None
                if not isinstance(race, Mapping):
                    raise MalformedPayload(NAME, what, f"races[{i}].race is not an object")
                races.append(_map_race(race, f"{what}, races[{i}]"))
            if len(rows) < 100:
                return races
            page += 1

    async def race(self, race_id: str) -> ProviderRace:
        what = f"race {race_id}"
        body = await self._get(f"/Rest/race/{race_id}", what, {})
        race = body.get("race") if isinstance(body, Mapping) else None
        if not isinstance(race, Mapping):
            raise MalformedPayload(NAME, what, "field 'race' is missing")
        return _map_race(race, what)

    async def participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[ProviderParticipant]:
        """Keyset pages by registration id; `since` is exclusive (RunSignup's filter is >=)."""
        names = {s.source_id: s.name for s in (await self.race(race_id)).sub_events}
        after = previous_after = 0
        page = 1
        while True:
            what = f"participants page {page}"
            params: dict[str, str | int] = {
                "results_per_page": self.page_size,
                "sort": "registration_id ASC",
                "after_registration_id": after,
                "include_questions": "T",
            }
            if sub_event_ids:
                params["event_id"] = ",".join(sub_event_ids)
            if since is not None:
                params["modified_after_timestamp"] = int(since.timestamp()) + 1
            body = await self._get(f"/Rest/race/{race_id}/participants", what, params)
            if not isinstance(body, list):
                raise MalformedPayload(NAME, what, "expected a list of events")
            count = 0
            for i, element in enumerate(body):
                where = f"{what}, element {i}"
                if not isinstance(element, Mapping):
                    raise MalformedPayload(NAME, where, "not an object")
                event = element.get("event")
                event_id = text_of(event.get("event_id")) if isinstance(event, Mapping) else ""
                # The nested event.participants is always empty; the sibling key holds the rows
                # and may be absent altogether.
                rows = element.get("participants") or []
                if not isinstance(rows, list):
                    raise MalformedPayload(NAME, where, "field 'participants' is not a list")
                for j, row in enumerate(rows):
                    mapped = _map_participant(row, race_id, event_id, names, f"{where}[{j}]")
                    after = max(after, int(mapped.source_id))
                    count += 1
                    yield mapped
            if count < self.page_size:
                return
            if after <= previous_after:
                raise MalformedPayload(NAME, what, "a full page did not advance registration_id")
            previous_after = after
            page += 1

    async def removed_participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[RemovedParticipant]:
        page = 1
        while True:
            what = f"removed-participants page {page}"
            params: dict[str, str | int] = {"results_per_page": self.page_size, "page": page}
            if sub_event_ids:
                params["event_id"] = ",".join(sub_event_ids)
            if since is not None:
                params["modified_after_timestamp"] = int(since.timestamp()) + 1
            body = await self._get(f"/Rest/race/{race_id}/removed-participants", what, params)
            elements = body if isinstance(body, list) else [body]
            count = 0
            for i, element in enumerate(elements):
                where = f"{what}, element {i}"
                event = element.get("event") if isinstance(element, Mapping) else None
                if not isinstance(event, Mapping):
                    raise MalformedPayload(NAME, where, "field 'event' is missing")
                rows = element.get("participants") or event.get("participants") or []
                if not isinstance(rows, list):
                    raise MalformedPayload(NAME, where, "field 'participants' is not a list")
                for j, row in enumerate(rows):
                    yield _map_removed(row, f"{where}[{j}]")
                    count += 1
            if count < self.page_size:
                return
            page += 1

    async def post_finishing_times(
        self, race_id: str, event_id: str, last_finishing_time_id: int, times: Sequence[str]
    ) -> Any:
        """Stream finish-line times (H:MM:SS.f); pass the last id RunSignup returned before."""
        payload = {"last_finishing_time_id": last_finishing_time_id, "finishing_times": list(times)}
        return await self._post(race_id, event_id, "finishing-times", payload)

    async def post_bib_order(
        self, race_id: str, event_id: str, last_finishing_place: int, bibs: Sequence[str]
    ) -> Any:
        """Stream bibs in finish order after `last_finishing_place`."""
        bib_nums = [_bib_num(b) for b in bibs]
        payload = {"last_finishing_place": last_finishing_place, "bib_nums": bib_nums}
        return await self._post(race_id, event_id, "bib-order", payload)

    async def post_full_results(
        self,
        race_id: str,
        event_id: str,
        rows: Sequence[ResultRow],
        *,
        result_set_id: str = "",
    ) -> Any:
        """Post one event's (distance's) results, matched to registrations by bib_num.

        Finishers carry place, clock and chip time (H:MM:SS.d); DNF/DNS/DQ rows carry the
        status in both times and no place. Names are not sent: RunSignup keeps its own.
        """
        results: list[dict[str, Any]] = []
        for r in rows:
            entry: dict[str, Any] = {"bib_num": _bib_num(r.bib)}
            if r.status == "finished":
                entry.update(place=r.place, clock_time=r.clock_time, chip_time=r.chip_time)
            else:
                entry.update(clock_time=r.status.upper(), chip_time=r.status.upper())
            results.append(entry)
        extra = {"individual_result_set_id": result_set_id} if result_set_id else {}
        return await self._post(race_id, event_id, "full-results", {"results": results}, extra)

    async def _post(
        self,
        race_id: str,
        event_id: str,
        kind: str,
        payload: object,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        what = f"results {kind} for event {event_id}"
        # RunSignup write calls take the JSON as a form field named `request`.
        response = await self._http.request(
            "POST",
            f"/Rest/race/{race_id}/results/{kind}",
            what=what,
            params={
                "format": "json",
                "request_format": "json",
                "event_id": event_id,
                **(params or {}),
                **self._auth_params,
            },
            data={"request": json.dumps(payload)},
        )
        body = decode_json(NAME, what, response.content)
        _raise_body_error(body, what)
        return body


def _bib_num(bib: str) -> int | str:
    """RunSignup bibs are integers; a zero-padded bib is sent as given rather than altered."""
    return int(bib) if bib.isdigit() and not bib.startswith("0") else bib


def _raise_body_error(body: Any, what: str) -> None:
    """RunSignup reports errors in the body with HTTP 200."""
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        code = int_or_none(body["error"].get("error_code"))
        message = text_of(body["error"].get("error_msg"))
        if code in _AUTH_ERROR_CODES:
            raise BadCredentials(NAME, message)
        raise ProviderUnavailable(NAME, f"error {code} for {what}: {message}")


def field_list(body: Any, key: str, what: str) -> list[Any]:
    value = body.get(key) if isinstance(body, Mapping) else None
    if value is None and isinstance(body, Mapping):
        return []
    if not isinstance(value, list):
        raise MalformedPayload(NAME, what, f"field {key!r} is not a list")
    return value


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(text_of(name)) if text_of(name) else US_EASTERN
    except (ZoneInfoNotFoundError, ValueError):
        return US_EASTERN


def _local(value: object, zone: ZoneInfo, where: str) -> datetime | None:
    text = text_of(value)
    if not text:
        return None
    try:
        return datetime.strptime(text, "%m/%d/%Y %H:%M").replace(tzinfo=zone)
    except ValueError:
        raise MalformedPayload(NAME, where, f"unreadable date/time {text!r}") from None


def _map_race(race: Mapping[str, Any], where: str) -> ProviderRace:
    if race.get("race_id") is None:
        raise MalformedPayload(NAME, where, "field 'race_id' is missing")
    zone = _zone(race.get("timezone"))
    events = race.get("events") or []
    if not isinstance(events, list):
        raise MalformedPayload(NAME, where, "field 'events' is not a list")
    subs = []
    for i, e in enumerate(events):
        if not isinstance(e, Mapping) or e.get("event_id") is None:
            raise MalformedPayload(NAME, f"{where}, events[{i}]", "field 'event_id' is missing")
        subs.append(
            ProviderSubEvent(
                source_id=text_of(e["event_id"]),
                name=text_of(e.get("name")),
                distance=text_of(e.get("distance")),
                start=_local(e.get("start_time"), zone, f"{where}, events[{i}].start_time"),
            )
        )
    starts = [s.start for s in subs if s.start is not None]
    return ProviderRace(
        source=NAME,
        source_id=text_of(race["race_id"]),
        name=text_of(race.get("name")),
        start=min(starts) if starts else None,
        sub_events=tuple(subs),
    )


def _map_participant(
    row: Any, race_id: str, event_id: str, names: Mapping[str, str], where: str
) -> ProviderParticipant:
    if not isinstance(row, Mapping):
        raise MalformedPayload(NAME, where, "participant is not an object")
    user = row.get("user")
    if not isinstance(user, Mapping):
        raise MalformedPayload(NAME, where, "field 'user' is missing")
    address: Mapping[str, Any] = user["address"] if isinstance(user.get("address"), Mapping) else {}
    field = "registration_id"
    try:
        source_id = text_of(row["registration_id"])
        int(source_id)
        sub = text_of(row.get("event_id")) or event_id
        chip = text_of(row.get("chip_num"))
        field = "user.dob"
        dob = parse_birth_date(user.get("dob"))
        field = "age"
        age = int_or_none(row.get("age"))
        field = "last_modified"
        modified = from_epoch(row.get("last_modified"))
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedPayload(NAME, where, f"field {field!r}: {exc}") from None
    answers = row.get("question_responses") or []
    custom = {
        text_of(a.get("question_text")): text_of(a.get("response"))
        for a in answers
        if isinstance(a, Mapping)
    }
    return ProviderParticipant(
        source=NAME,
        source_id=source_id,
        race_id=race_id,
        sub_event_id=sub,
        sub_event_name=names.get(sub, ""),
        bib=text_of(row.get("bib_num")),
        chips=(chip,) if chip else (),
        first_name=text_of(user.get("first_name")),
        last_name=text_of(user.get("last_name")),
        gender=normalise_gender(user.get("gender")),
        birth_date=dob,
        age=age,
        city=text_of(address.get("city")),
        state=text_of(address.get("state")),
        country=normalise_country(address.get("country_code")),
        team=text_of(row.get("team_name")),
        status="registered",
        modified_at=modified,
        custom=custom,
        raw=dict(row),
    )


def _map_removed(row: Any, where: str) -> RemovedParticipant:
    if not isinstance(row, Mapping) or row.get("registration_id") is None:
        raise MalformedPayload(NAME, where, "field 'registration_id' is missing")
    reason = text_of(row.get("removed_reason")).lower()
    try:
        modified = from_epoch(row.get("last_modified_ts"))
    except ValueError:
        raise MalformedPayload(NAME, where, "field 'last_modified_ts' is not a number") from None
    return RemovedParticipant(
        source=NAME,
        source_id=text_of(row["registration_id"]),
        status=_REMOVED_STATUS.get(reason, "cancelled"),
        new_source_id=text_of(row.get("new_registration_id")),
        modified_at=modified,
    )
