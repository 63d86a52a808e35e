"""CT Live over real loopback HTTP: header paging, SHA-1 password, zero-padded bibs, errors."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime

import httpx
import pytest

from app.domain.participants_in import ProviderParticipant, ProviderRace, ProviderSubEvent
from app.domain.provider_errors import BadCredentials, MalformedPayload, ProviderTimeout
from app.providers.ctlive import CtLive
from app.providers.http import RetryPolicy
from tests.integration.providers.stub_server import Reply, Seen, Stub, fixture_json

ENTRIES = "/api/event/91001/entry"
PASSWORD = "ct-live-pass-Hx8"
FAST = RetryPolicy(attempts=3, max_wait_s=5.0, base_backoff_s=0.05)


def authed(seen: Seen) -> bool:
    return (
        seen.query.get("client_id") == "tenant-client"
        and seen.query.get("user_id") == "timer@example.com"
        and seen.query.get("user_pass") == hashlib.sha1(PASSWORD.encode()).hexdigest()
    )


def headers(page: int) -> dict[str, str]:
    return {
        "X-Ctlive-Page-Count": "2",
        "X-Ctlive-Row-Count": "3",
        "X-Ctlive-Current-Page": str(page),
        "X-Ctlive-Page-Size": "2",
    }


def install(stub: Stub, page2: Reply | None = None) -> None:
    @stub.route("GET", ENTRIES)
    def entries(seen: Seen) -> Reply:
        if not authed(seen):
            return Reply.json({"error": "unauthorized"}, status=403)
        if seen.query["page"] == "1":
            return Reply.file("ctlive_entries.json", **headers(1))
        return page2 or Reply.file("ctlive_entries_page2.json", **headers(2))

    stub.route("GET", "/api/event")(
        lambda seen: Reply.json(
            {
                "event": [
                    {
                        "event_id": "91001",
                        "event_name": "Example River Run",
                        "event_start_time": "1784721600",
                        "location_city": "Davenport",
                    }
                ]
            }
        )
    )
    stub.route("GET", "/api/event/91001/race")(
        lambda seen: Reply.json(
            {
                "races": [
                    {"race_id": "120001", "race_name": "7 Mile", "race_course_distance": "11265"},
                    {"race_id": "120002", "race_name": "2 Mile", "race_course_distance": "3219"},
                ]
            }
        )
    )


def client(stub: Stub, password: str = PASSWORD, **kw: object) -> CtLive:
    creds = {"client_id": "tenant-client", "user_id": "timer@example.com", "password": password}
    return CtLive(creds, base_url=stub.url, retry=FAST, page_size=2, **kw)  # type: ignore[arg-type]


def expected() -> list[ProviderParticipant]:
    page1 = fixture_json("ctlive_entries.json")["event_entry"]
    page2 = fixture_json("ctlive_entries_page2.json")["event_entry"]
    return [
        ProviderParticipant(
            source="CT Live", source_id="40000001", race_id="91001", sub_event_id="120001",
            sub_event_name="7 Mile", bib="2417", chips=(), first_name="Kim", last_name="Example",
            gender="F", birth_date=date(1986, 10, 21), age=39, city="Davenport", state="IA",
            country="US", team="River City Runners", status="registered",
            custom={"custom_element262177": "River City Runners", "reg_choice_name": "7 Mile Run",
                    "wave_name": "Wave 2", "bracket_name": "F35-39"},
            raw=page1[0],
        ),
        ProviderParticipant(
            source="CT Live", source_id="40000002", race_id="91001", sub_event_id="120002",
            sub_event_name="2 Mile", bib="0099", chips=(), first_name="Lee", last_name="Sample",
            gender="M", birth_date=None, age=61, city="Moline", state="IL", country="US",
            team="", status="registered",
            custom={"reg_choice_name": "2 Mile Walk", "bracket_name": "M60-64"}, raw=page1[1],
        ),
        ProviderParticipant(
            source="CT Live", source_id="40000003", race_id="91001", sub_event_id="120001",
            sub_event_name="7 Mile", bib="3050", chips=(), first_name="Robin",
            last_name="Tester", gender="X", birth_date=date(2001, 1, 15), age=25,
            city="Rock Island", state="IL", country="US", team="", status="cancelled",
            custom={"reg_choice_name": "7 Mile Run", "wave_name": "Wave 1",
                    "bracket_name": "X20-29"},
            raw=page2[0],
        ),
    ]  # fmt: skip


async def collect(ct: CtLive, *sub: str) -> list[ProviderParticipant]:
    try:
        return [p async for p in ct.participants("91001", tuple(sub))]
    finally:
        await ct.aclose()


async def test_pages_until_the_page_count_header(stub: Stub) -> None:
    install(stub)
    got = await collect(client(stub))
    pages = stub.requests_to(ENTRIES)
    assert [(p.query["page"], p.query["size"]) for p in pages] == [("1", "2"), ("2", "2")]
    assert pages[0].query["need_athlete_birthdate"] == "true"
    assert got == expected()


async def test_sub_event_filter_by_race_id_or_name(stub: Stub) -> None:
    install(stub)
    assert await collect(client(stub), "2 Mile") == expected()[1:2]


async def test_list_races_reads_either_race_key(stub: Stub) -> None:
    install(stub)
    ct = client(stub)
    races = await ct.list_races()
    await ct.aclose()
    assert races == [
        ProviderRace(
            source="CT Live", source_id="91001", name="Example River Run",
            start=datetime.fromtimestamp(1784721600, UTC),
            sub_events=(ProviderSubEvent("120001", "7 Mile", "11265 m"),
                        ProviderSubEvent("120002", "2 Mile", "3219 m")),
        )
    ]  # fmt: skip


async def test_wrong_password_is_bad_credentials_and_never_logged(
    stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    install(stub)
    caplog.set_level(logging.DEBUG)
    ct = client(stub, password="not-the-password")
    with pytest.raises(BadCredentials, match="HTTP 403 for entries page 1"):
        await collect(ct)
    sha = hashlib.sha1(b"not-the-password").hexdigest()
    text = caplog.text + repr(ct)
    assert sha not in text and "not-the-password" not in text and "tenant-client" not in text


async def test_timeout(stub: Stub) -> None:
    install(stub, page2=Reply(200, b"{}", delay_s=1.5))
    with pytest.raises(ProviderTimeout, match="entries page 2"):
        await collect(client(stub, timeout=httpx.Timeout(0.3)))


async def test_malformed_page_is_named(stub: Stub) -> None:
    install(stub, page2=Reply.json({"event_entry": [{"entry_id": "4", "entry_race_age": "old"}]}))
    with pytest.raises(MalformedPayload) as caught:
        await collect(client(stub))
    assert str(caught.value).startswith(
        "CT Live sent data we cannot read: entries page 2, event_entry[0]: field 'entry_race_age'"
    )
