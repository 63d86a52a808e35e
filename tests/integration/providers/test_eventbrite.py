"""Eventbrite over real loopback HTTP: continuation paging, changed_since, bib from answers."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import httpx
import pytest

from app.domain.participants_in import ProviderParticipant, ProviderRace, ProviderSubEvent
from app.domain.provider_errors import BadCredentials, MalformedPayload, ProviderTimeout
from app.providers.eventbrite import Eventbrite
from app.providers.http import RetryPolicy
from tests.integration.providers.stub_server import Reply, Seen, Stub, fixture_json

TOKEN = "EB-private-token-5J3K"
ATTENDEES = "/v3/events/700000000001/attendees/"
CONTINUATION = "ZXhhbXBsZS1jb250aW51YXRpb24"
FAST = RetryPolicy(attempts=3, max_wait_s=5.0, base_backoff_s=0.05)


def authed(seen: Seen) -> bool:
    return seen.headers.get("authorization") == f"Bearer {TOKEN}"


def denied() -> Reply:
    return Reply.json({"status_code": 401, "error": "INVALID_AUTH"}, status=401)


def install(stub: Stub, page2: Reply | None = None) -> None:
    @stub.route("GET", ATTENDEES)
    def attendees(seen: Seen) -> Reply:
        if not authed(seen):
            return denied()
        if seen.query.get("continuation") == CONTINUATION:
            return page2 or Reply.file("eventbrite_attendees_page2.json")
        return Reply.file("eventbrite_attendees_page1.json")

    @stub.route("GET", "/v3/organizations/4400001/events/")
    def events(seen: Seen) -> Reply:
        return Reply.file("eventbrite_events.json") if authed(seen) else denied()

    @stub.route("GET", "/v3/events/700000000001/ticket_classes/")
    def ticket_classes(seen: Seen) -> Reply:
        return Reply.file("eventbrite_ticket_classes.json") if authed(seen) else denied()


def client(stub: Stub, token: str = TOKEN, **kw: object) -> Eventbrite:
    creds = {"token": token, "organization_id": "4400001"}
    return Eventbrite(creds, base_url=stub.url, retry=FAST, **kw)  # type: ignore[arg-type]


def expected() -> list[ProviderParticipant]:
    rows = fixture_json("eventbrite_attendees.json")["attendees"]
    return [
        ProviderParticipant(
            source="Eventbrite", source_id="9100000001", race_id="700000000001",
            sub_event_id="3300000001", sub_event_name="10K Run", bib="215", chips=(),
            first_name="Noor", last_name="Example", gender="F", birth_date=date(1994, 9, 9),
            age=31, city="Austin", state="TX", country="US", team="Eastside Runners",
            status="registered", vip=False, modified_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            custom={"Bib number": "215", "Team / club": "Eastside Runners"}, raw=rows[0],
        ),
        ProviderParticipant(
            source="Eventbrite", source_id="9100000002", race_id="700000000001",
            sub_event_id="3300000002", sub_event_name="5K Fun Run", bib="", chips=(),
            first_name="Ola", last_name="Sample", gender="U", birth_date=None, age=None,
            city="", state="", country="", team="", status="cancelled", vip=False,
            modified_at=datetime(2026, 3, 4, 8, 0, tzinfo=UTC), custom={}, raw=rows[1],
        ),
    ]  # fmt: skip


async def collect(
    eb: Eventbrite, *sub: str, since: datetime | None = None
) -> list[ProviderParticipant]:
    try:
        return [p async for p in eb.participants("700000000001", tuple(sub), since=since)]
    finally:
        await eb.aclose()


async def test_pages_follow_continuation(stub: Stub) -> None:
    install(stub)
    got = await collect(client(stub))
    pages = stub.requests_to(ATTENDEES)
    assert [p.query.get("continuation") for p in pages] == [None, CONTINUATION]
    assert got == expected()


async def test_changed_since_and_sub_event_filter(stub: Stub) -> None:
    install(stub)
    got = await collect(client(stub), "3300000002", since=datetime(2026, 3, 1, 10, 30, tzinfo=UTC))
    assert {p.query["changed_since"] for p in stub.requests_to(ATTENDEES)} == {
        "2026-03-01T10:30:00Z"
    }
    assert got == expected()[1:]


async def test_list_races_with_ticket_classes(stub: Stub) -> None:
    install(stub)
    eb = client(stub)
    races = await eb.list_races()
    await eb.aclose()
    assert races == [
        ProviderRace(
            source="Eventbrite", source_id="700000000001", name="Example Austin 10K",
            start=datetime(2026, 4, 18, 12, 30, tzinfo=UTC),
            sub_events=(
                ProviderSubEvent("3300000001", "10K Run"),
                ProviderSubEvent("3300000002", "5K Fun Run"),
            ),
        )
    ]  # fmt: skip


async def test_wrong_token_is_bad_credentials_without_the_token(
    stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    install(stub)
    caplog.set_level(logging.DEBUG)
    eb = client(stub, token="EB-wrong-token-0000")
    with pytest.raises(BadCredentials) as caught:
        await collect(eb)
    assert "HTTP 401" in str(caught.value)
    text = f"{caught.value} {caught.value!r} {eb!r} {caplog.text}"
    assert "EB-wrong-token-0000" not in text


async def test_429_on_page_two_waits_for_retry_after(stub: Stub) -> None:
    install(stub)
    hits: list[Seen] = []
    first = stub.routes[("GET", ATTENDEES)]

    def limited(seen: Seen) -> Reply:
        if seen.query.get("continuation") == CONTINUATION:
            hits.append(seen)
            if len(hits) == 1:
                return Reply.json({"error": "HIT_RATE_LIMIT"}, status=429, **{"Retry-After": "1"})
        return first(seen)

    stub.routes[("GET", ATTENDEES)] = limited
    got = await collect(client(stub))
    assert len(hits) == 2 and hits[1].at - hits[0].at >= 1.0
    assert got == expected()


async def test_timeout(stub: Stub) -> None:
    install(stub, page2=Reply(200, b"{}", delay_s=1.5))
    with pytest.raises(ProviderTimeout, match=r"did not answer attendees page 2 within 0\.3 s"):
        await collect(client(stub, timeout=httpx.Timeout(0.3)))


async def test_malformed_page_two_is_named(stub: Stub) -> None:
    install(stub, page2=Reply.json({"attendees": [{"id": "9100000002"}], "pagination": {}}))
    with pytest.raises(MalformedPayload) as caught:
        await collect(client(stub))
    assert str(caught.value) == (
        "Eventbrite sent data we cannot read: attendees page 2, attendees[0]: "
        "field 'profile' is missing."
    )
