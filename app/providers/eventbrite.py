"""Eventbrite v3: organisation events, ticket classes as distances, attendees (changed_since)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from app.domain.participants_in import (
    ProviderParticipant,
    ProviderRace,
    ProviderSubEvent,
    Status,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
    parse_iso_utc,
    text_of,
)
from app.domain.provider_errors import BadCredentials, MalformedPayload
from app.providers.base import Credentials
from app.providers.http import DEFAULT_RETRY, DEFAULT_TIMEOUT, ProviderHttp, RetryPolicy

BASE_URL = "https://www.eventbriteapi.com"
NAME = "Eventbrite"
_BIB_QUESTION = re.compile(r"\bbib\b", re.IGNORECASE)
_TEAM_QUESTION = re.compile(r"\b(team|club)\b", re.IGNORECASE)


class Eventbrite:
    """Participant sync from Eventbrite.

    Credentials: `token` (the organiser's private OAuth token) and `organization_id`.
    Eventbrite has no bib field: the bib is the answer to the custom question whose id is
    `bib_question_id`, or else whose text contains the word "bib".
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
        bib_question_id: str = "",
    ) -> None:
        self._credentials = Credentials(credentials)
        if not self._credentials.get("token"):
            raise BadCredentials(NAME, "no private token is saved")
        self.bib_question_id = bib_question_id
        self._http = ProviderHttp(
            NAME,
            base_url,
            timeout=timeout,
            retry=retry,
            headers={"Authorization": f"Bearer {self._credentials['token']}"},
        )

    def __repr__(self) -> str:
        return f"Eventbrite(credentials={self._credentials!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _pages(
        self, path: str, key: str, label: str, params: Mapping[str, str]
    ) -> AsyncIterator[tuple[str, list[Any]]]:
        """Follow `continuation` until has_more_items is false; yields (page label, rows)."""
        continuation = ""
        page = 1
        while True:
            what = f"{label} page {page}"
            query = dict(params)
            if continuation:
                query["continuation"] = continuation
            body, _ = await self._http.get_json(path, what=what, params=query)
            if not isinstance(body, Mapping):
                raise MalformedPayload(NAME, what, "expected an object")
            rows = body.get(key)
            if not isinstance(rows, list):
                raise MalformedPayload(NAME, what, f"field {key!r} is missing or not a list")
            paging = body.get("pagination")
            if not isinstance(paging, Mapping):
                raise MalformedPayload(NAME, what, "field 'pagination' is missing")
            yield what, rows
            if not paging.get("has_more_items"):
                return
            following = text_of(paging.get("continuation"))
            if not following or following == continuation:
                raise MalformedPayload(NAME, what, "has_more_items without a new 'continuation'")
            continuation = following
            page += 1

    async def list_races(self) -> list[ProviderRace]:
        org = self._credentials.get("organization_id")
        races = []
        async for what, rows in self._pages(
            f"/v3/organizations/{org}/events/", "events", "events", {}
        ):
            for i, event in enumerate(rows):
                where = f"{what}, events[{i}]"
                if not isinstance(event, Mapping) or not text_of(event.get("id")):
                    raise MalformedPayload(NAME, where, "field 'id' is missing")
                name = event.get("name")
                start = event.get("start")
                try:
                    start_utc = (
                        parse_iso_utc(start.get("utc")) if isinstance(start, Mapping) else None
                    )
                except ValueError:
                    raise MalformedPayload(NAME, where, "field 'start.utc' is not a date") from None
                races.append(
                    ProviderRace(
                        source=NAME,
                        source_id=text_of(event["id"]),
                        name=text_of(name.get("text") if isinstance(name, Mapping) else name),
                        start=start_utc,
                        sub_events=await self._ticket_classes(text_of(event["id"])),
                    )
                )
        return races

    async def _ticket_classes(self, event_id: str) -> tuple[ProviderSubEvent, ...]:
        subs = []
        async for what, rows in self._pages(
            f"/v3/events/{event_id}/ticket_classes/", "ticket_classes", "ticket classes", {}
        ):
            for i, tc in enumerate(rows):
                if not isinstance(tc, Mapping) or not text_of(tc.get("id")):
                    raise MalformedPayload(NAME, f"{what}, ticket_classes[{i}]", "no 'id'")
                subs.append(
                    ProviderSubEvent(source_id=text_of(tc["id"]), name=text_of(tc.get("name")))
                )
        return tuple(subs)

    async def participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[ProviderParticipant]:
        """All attendees (cancelled ones too, so a sync sees cancellations), oldest page first."""
        params: dict[str, str] = {}
        if since is not None:
            params["changed_since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        async for what, rows in self._pages(
            f"/v3/events/{race_id}/attendees/", "attendees", "attendees", params
        ):
            for i, row in enumerate(rows):
                mapped = self._map(row, race_id, f"{what}, attendees[{i}]")
                if sub_event_ids and mapped.sub_event_id not in sub_event_ids:
                    continue
                yield mapped

    def _map(self, row: Any, race_id: str, where: str) -> ProviderParticipant:
        if not isinstance(row, Mapping) or not text_of(row.get("id")):
            raise MalformedPayload(NAME, where, "field 'id' is missing")
        profile = row.get("profile")
        if not isinstance(profile, Mapping):
            raise MalformedPayload(NAME, where, "field 'profile' is missing")
        addresses = profile.get("addresses")
        home = addresses.get("home") if isinstance(addresses, Mapping) else None
        home = home if isinstance(home, Mapping) else {}
        answers = [a for a in (row.get("answers") or []) if isinstance(a, Mapping)]
        custom = {text_of(a.get("question")): text_of(a.get("answer")) for a in answers}
        bib = ""
        team = text_of(row.get("team")) if not isinstance(row.get("team"), Mapping) else ""
        for a in answers:
            question = text_of(a.get("question"))
            if (self.bib_question_id and text_of(a.get("question_id")) == self.bib_question_id) or (
                not self.bib_question_id and _BIB_QUESTION.search(question)
            ):
                bib = text_of(a.get("answer"))
            elif not team and _TEAM_QUESTION.search(question):
                team = text_of(a.get("answer"))
        field = "profile.birth_date"
        try:
            dob = parse_birth_date(profile.get("birth_date"))
            field = "profile.age"
            age = int_or_none(profile.get("age"))
            field = "changed"
            changed = parse_iso_utc(row.get("changed"))
        except (ValueError, TypeError) as exc:
            raise MalformedPayload(NAME, where, f"field {field!r}: {exc}") from None
        return ProviderParticipant(
            source=NAME,
            source_id=text_of(row["id"]),
            race_id=race_id,
            sub_event_id=text_of(row.get("ticket_class_id")),
            sub_event_name=text_of(row.get("ticket_class_name")),
            bib=bib,
            first_name=text_of(profile.get("first_name")),
            last_name=text_of(profile.get("last_name")),
            gender=normalise_gender(profile.get("gender")),
            birth_date=dob,
            age=age,
            city=text_of(home.get("city")),
            state=text_of(home.get("region")),
            country=normalise_country(home.get("country")),
            team=team,
            status=_status(row),
            modified_at=changed,
            custom=custom,
            raw=dict(row),
        )


def _status(row: Mapping[str, Any]) -> Status:
    if row.get("cancelled") is True or row.get("refunded") is True:
        return "cancelled"
    if text_of(row.get("status")).lower() in {"not attending", "deleted"}:
        return "cancelled"
    return "registered"
