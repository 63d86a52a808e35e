"""RunSignup over real loopback HTTP: keyset paging, incremental sync, removed feed, errors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from app.domain.participants_in import (
    ProviderParticipant,
    ProviderRace,
    ProviderSubEvent,
    RemovedParticipant,
)
from app.domain.provider_errors import (
    BadCredentials,
    MalformedPayload,
    ProviderTimeout,
    ProviderUnavailable,
)
from app.providers.http import RetryPolicy
from app.providers.runsignup import RunSignup
from tests.integration.providers.stub_server import Reply, Seen, Stub, fixture_json

KEY, SECRET = "rsu-key-XYZ123", "rsu-secret-Q9W8E7"
RACE = "/Rest/race/90001"
FAST = RetryPolicy(attempts=3, max_wait_s=5.0, base_backoff_s=0.05)


def authed(seen: Seen) -> bool:
    return seen.query.get("rsu_api_key") == KEY and seen.headers.get("x-rsu-api-secret") == SECRET


def auth_error() -> Reply:
    # RunSignup reports bad keys in the body with HTTP 200.
    return Reply.json({"error": {"error_code": 6, "error_msg": "Key authentication failed"}})


def install(stub: Stub, page2: Reply | None = None) -> None:
    @stub.route("GET", RACE)
    def race(seen: Seen) -> Reply:
        return Reply.file("runsignup_race.json") if authed(seen) else auth_error()

    @stub.route("GET", "/Rest/races")
    def races(seen: Seen) -> Reply:
        return Reply.file("runsignup_races.json") if authed(seen) else auth_error()

    @stub.route("GET", f"{RACE}/participants")
    def participants(seen: Seen) -> Reply:
        if not authed(seen):
            return auth_error()
        if seen.query["after_registration_id"] == "0":
            return Reply.file("runsignup_participants.json")
        return page2 or Reply.file("runsignup_participants_page2.json")

    @stub.route("GET", f"{RACE}/removed-participants")
    def removed(seen: Seen) -> Reply:
        return Reply.file("runsignup_removed_participants.json") if authed(seen) else auth_error()


def client(stub: Stub, **kw: object) -> RunSignup:
    creds = kw.pop("credentials", {"rsu_api_key": KEY, "rsu_api_secret": SECRET})
    return RunSignup(creds, base_url=stub.url, retry=FAST, page_size=2, **kw)  # type: ignore[arg-type]


def expected() -> list[ProviderParticipant]:
    page = fixture_json("runsignup_participants.json")
    return [
        ProviderParticipant(
            source="RunSignup", source_id="3100001", race_id="90001", sub_event_id="700001",
            sub_event_name="10K", bib="1001", chips=("058001",), first_name="Avery",
            last_name="Testrunner", gender="F", birth_date=date(1990, 4, 12), age=36,
            city="Moorestown", state="NJ", country="US", team="Harbor Striders",
            status="registered", vip=False, modified_at=datetime.fromtimestamp(1772462460, UTC),
            custom={"Emergency Contact Name": "Sam Testrunner"}, raw=page[0]["participants"][0],
        ),
        ProviderParticipant(
            source="RunSignup", source_id="3100002", race_id="90001", sub_event_id="700002",
            sub_event_name="5K Walk", bib="", chips=(), first_name="Jules", last_name="O'Example",
            gender="M", birth_date=None, age=52, city="Montréal", state="QC", country="CA",
            team="", status="registered", vip=False,
            modified_at=datetime.fromtimestamp(1772752020, UTC), custom={},
            raw=page[1]["participants"][0],
        ),
    ]  # fmt: skip


async def collect(rsu: RunSignup, **kw: object) -> list[ProviderParticipant]:
    try:
        return [p async for p in rsu.participants("90001", ("700001", "700002"), **kw)]  # type: ignore[arg-type]
    finally:
        await rsu.aclose()


async def test_full_pull_pages_by_registration_id(stub: Stub) -> None:
    install(stub)
    got = await collect(client(stub))
    pages = stub.requests_to(f"{RACE}/participants")
    assert [p.query["after_registration_id"] for p in pages] == ["0", "3100002"]
    assert pages[0].query["event_id"] == "700001,700002"
    assert pages[0].query["sort"] == "registration_id ASC"
    assert pages[0].query["results_per_page"] == "2"
    assert "modified_after_timestamp" not in pages[0].query
    assert got == expected()


async def test_incremental_sync_adds_one_second_and_reads_the_removed_feed(stub: Stub) -> None:
    install(stub)
    since = datetime.fromtimestamp(1772462460, UTC)
    rsu = client(stub)
    got = await collect(client(stub), since=since)
    removed = [r async for r in rsu.removed_participants("90001", (), since=since)]
    await rsu.aclose()
    pages = stub.requests_to(f"{RACE}/participants")
    assert {p.query["modified_after_timestamp"] for p in pages} == {"1772462461"}
    assert (
        stub.requests_to(f"{RACE}/removed-participants")[0].query["modified_after_timestamp"]
        == "1772462461"
    )
    assert got == expected()
    assert removed == [
        RemovedParticipant(
            source="RunSignup", source_id="3100009", status="transferred",
            new_source_id="3100044", modified_at=datetime.fromtimestamp(1772802900, UTC),
        )
    ]  # fmt: skip


async def test_list_races_with_events_in_the_race_time_zone(stub: Stub) -> None:
    install(stub)
    rsu = client(stub)
    races = await rsu.list_races()
    await rsu.aclose()
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    assert races == [
        ProviderRace(
            source="RunSignup", source_id="90001", name="Example Harbor Run",
            start=datetime(2026, 5, 17, 8, 0, tzinfo=ny),
            sub_events=(
                ProviderSubEvent("700001", "10K", "10K", datetime(2026, 5, 17, 8, 0, tzinfo=ny)),
                ProviderSubEvent(
                    "700002", "5K Walk", "5K", datetime(2026, 5, 17, 8, 30, tzinfo=ny)
                ),
            ),
        )
    ]  # fmt: skip
    assert stub.requests_to("/Rest/races")[0].query["only_partner_races"] == "T"


async def test_wrong_key_is_bad_credentials_and_never_shows_the_secret(
    stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    install(stub)
    caplog.set_level(logging.DEBUG)
    rsu = client(
        stub, credentials={"rsu_api_key": "wrong-KEY-77", "rsu_api_secret": "wrong-SEC-88"}
    )
    with pytest.raises(BadCredentials) as caught:
        await collect(rsu)
    text = f"{caught.value} {caught.value!r} {rsu!r} {caplog.text}"
    assert "Key authentication failed" in str(caught.value)
    assert "wrong-KEY-77" not in text and "wrong-SEC-88" not in text
    assert "rsu_api_key=***" in caplog.text  # httpx logged the request, redacted


async def test_http_401_is_bad_credentials(stub: Stub) -> None:
    stub.route("GET", RACE)(lambda seen: Reply.json({"error": "unauthorized"}, status=401))
    with pytest.raises(BadCredentials, match="RunSignup rejected the saved credentials"):
        await collect(client(stub))


async def test_429_waits_for_retry_after_then_continues(stub: Stub) -> None:
    calls: list[Seen] = []

    def limited_once(seen: Seen) -> Reply:
        calls.append(seen)
        if len(calls) == 1:
            return Reply.json({"error": "slow down"}, status=429, **{"Retry-After": "1"})
        return Reply.file("runsignup_participants_page2.json")

    install(stub, page2=None)
    stub.routes[("GET", f"{RACE}/participants")] = lambda seen: (
        Reply.file("runsignup_participants.json")
        if seen.query["after_registration_id"] == "0"
        else limited_once(seen)
    )
    got = await collect(client(stub))
    assert len(calls) == 2
    assert calls[1].at - calls[0].at >= 1.0  # not before Retry-After
    assert got == expected()


async def test_timeout_is_a_provider_timeout(stub: Stub) -> None:
    install(stub)
    stub.routes[("GET", RACE)] = lambda seen: Reply(200, b"{}", delay_s=1.5)
    rsu = client(stub, timeout=httpx.Timeout(0.3))
    with pytest.raises(ProviderTimeout, match=r"RunSignup did not answer race 90001 within 0\.3 s"):
        await collect(rsu)


async def test_malformed_page_names_the_page(stub: Stub) -> None:
    install(stub, page2=Reply(200, b'[{"event": {"event_id": 700001}, "participants": [{"regis'))
    with pytest.raises(MalformedPayload, match="participants page 2: not JSON"):
        await collect(client(stub))


async def test_malformed_field_names_page_and_field(stub: Stub) -> None:
    install(stub, page2=Reply.json([{"participants": [{"registration_id": 3100003, "user": []}]}]))
    with pytest.raises(MalformedPayload) as caught:
        await collect(client(stub))
    assert str(caught.value) == (
        "RunSignup sent data we cannot read: participants page 2, element 0[0]: "
        "field 'user' is missing."
    )


async def test_5xx_retries_then_unavailable(stub: Stub) -> None:
    stub.route("GET", RACE)(lambda seen: Reply(503, b"down"))
    with pytest.raises(ProviderUnavailable, match="HTTP 503 for race 90001"):
        await collect(client(stub))
    assert len(stub.requests_to(RACE)) == FAST.attempts


async def test_finishing_times_and_bib_order_post_the_request_form_field(stub: Stub) -> None:
    posted: list[Seen] = []

    def accept(seen: Seen) -> Reply:
        posted.append(seen)
        return Reply.json({"last_finishing_time_id": 2}) if authed(seen) else auth_error()

    stub.route("POST", f"{RACE}/results/finishing-times")(accept)
    stub.route("POST", f"{RACE}/results/bib-order")(accept)
    rsu = client(stub)
    got = await rsu.post_finishing_times("90001", "700001", 0, ["0:17:00.1", "0:17:02.4"])
    await rsu.post_bib_order("90001", "700001", 0, ["1001", "0099"])
    await rsu.aclose()
    assert got == {"last_finishing_time_id": 2}
    forms = [parse_qs(p.body.decode()) for p in posted]
    assert [json.loads(f["request"][0]) for f in forms] == [
        {"last_finishing_time_id": 0, "finishing_times": ["0:17:00.1", "0:17:02.4"]},
        {"last_finishing_place": 0, "bib_nums": [1001, "0099"]},
    ]
    assert posted[0].query["request_format"] == "json"
    assert posted[0].query["event_id"] == "700001"
