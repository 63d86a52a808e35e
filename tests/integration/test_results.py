"""Results end to end: reads stored by the collector's own calls, the pages, the files, and a
post to a real loopback RunSignUp."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import EventLocation, ParticipantIn
from app.domain.errors import NotFound
from app.domain.participants_in import ResultRow
from app.domain.provider_errors import BadCredentials
from app.domain.reads import NewRead
from app.providers.http import RetryPolicy
from app.providers.runsignup import RunSignup
from app.services import provider_sync
from app.services import results as service
from app.services.provider_sync import SyncConfig
from tests.integration.providers.stub_server import Reply, Seen, Stub
from tests.integration.tenancy import (
    Client,
    TenantSeed,
    app_client,
    claimed_session,
    login,
    seed_tenant,
)
from tests.integration.test_provider_sync import CREDENTIALS_KEY, KEY, SECRET, FakeRunSignup

pytestmark = pytest.mark.timeout(60)

GUN = datetime(2026, 5, 17, 8, 0, 0, tzinfo=UTC)
FULL_RESULTS = "/Rest/race/90001/results/full-results"
FAST = RetryPolicy(attempts=2, max_wait_s=1.0, base_backoff_s=0.05)
AUTH_ERROR = {"error": {"error_code": 6, "error_msg": "Key authentication failed"}}


def t(seconds: float) -> datetime:
    return GUN + timedelta(seconds=seconds)


@dataclass
class Feed:
    """One timing session of an event, fed through app.db.timing like the collector does."""

    pool: AsyncConnectionPool
    session_id: int
    locations: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    async def reads(self, *reads: tuple[str, str, datetime]) -> None:
        rows: list[NewRead] = []
        async with self.pool.connection() as conn:
            for location, tag, at in reads:
                if location not in self.locations:
                    self.locations[location] = await timing.ensure_location(
                        conn, self.session_id, location
                    )
                self.seq += 1
                stamp = f"{at:%H:%M:%S.%f}"
                line = f"CT01_33~{self.seq}~{location}~{tag}~{stamp}~1~0D4E5F~1"
                rows.append(
                    NewRead(
                        self.session_id,
                        self.locations[location],
                        self.seq,
                        location,
                        tag,
                        stamp,
                        at,
                        1,
                        "0D4E5F",
                        1,
                        line,
                        at,
                    )
                )
            await timing.store_reads(conn, rows)


async def _feed(pool: AsyncConnectionPool, identity: str, ct_event_id: str) -> Feed:
    async with pool.connection() as conn:
        session = await claimed_session(
            conn, identity, f"Session_{identity}", ct_event_id, "Harbor Run"
        )
    return Feed(pool, session.id)


async def _set(pool: AsyncConnectionPool, event_id: int, bib: str, **fields: object) -> None:
    sets = ", ".join(f"{name} = %({name})s" for name in fields)
    async with pool.connection() as conn:
        await conn.execute(
            f"UPDATE participants SET {sets} WHERE event_id = %(event_id)s AND bib = %(bib)s",
            {**fields, "event_id": event_id, "bib": bib},
        )


@dataclass(frozen=True)
class Seeded:
    harbor: TenantSeed
    rival: TenantSeed


@pytest.fixture
async def seeded(pool: AsyncConnectionPool) -> Seeded:
    harbor = await seed_tenant(pool, "harbor-timing", "Harbor Run 2026", ct_event_id="CT-HARBOR")
    rival = await seed_tenant(pool, "rival-timing", "Rival 5K", ct_event_id="CT-RIVAL")
    event_id = harbor.event.id
    locations = [
        EventLocation("START", "start"),
        EventLocation("5K", "split"),
        EventLocation("FINISH", "finish"),
    ]
    async with pool.connection() as conn:
        await catalog.replace_event_locations(conn, harbor.tenant_id, event_id, locations)
        await catalog.replace_event_locations(
            conn, rival.tenant_id, rival.event.id, [EventLocation("FINISH", "finish")]
        )
        await catalog.upsert_participants(
            conn,
            harbor.tenant_id,
            event_id,
            [
                ParticipantIn(
                    "1001", "058001", "Avery", "Testrunner", "F", 36, "Moorestown", "NJ", "US"
                ),
                ParticipantIn("1002", "058002", "Casey", "Example", "M", 41),
                ParticipantIn("1003", "", "Dana", "Walker", "F", 29),
                ParticipantIn("1004", "058004", "Pat", "Stillout", "M", 33),
                ParticipantIn("2001", "058101", "Jules", "Oexample", "M", 52),
                ParticipantIn("2002", "058102", "Lee", "Dropped", "M", 26),
                ParticipantIn("2003", "", "Sam", "Noshow", "F", 30),
            ],
        )  # fmt: skip
        await catalog.upsert_participants(
            conn, rival.tenant_id, rival.event.id, [ParticipantIn("1", "058001", "Mallory", "X")]
        )
        # The chip file: chip 7777 was hung on bib 1003.
        await catalog.upsert_chip_bibs(conn, harbor.tenant_id, event_id, [("7777", "1003")])
    for bib in ("1001", "1002", "1003", "1004"):
        await _set(pool, event_id, bib, sub_event="10K")
    for bib in ("2001", "2002", "2003"):
        await _set(pool, event_id, bib, sub_event="5K")
    await _set(
        pool, event_id, "1001", source="RunSignup", source_id="3100001",
        birth_date=date(1990, 4, 12),
    )  # fmt: skip
    await _set(pool, event_id, "2002", status="dnf")
    await _set(pool, event_id, "2003", status="dns")

    feed = await _feed(pool, "sc-harbor", "CT-HARBOR")
    await feed.reads(
        ("START", "guntime", t(0)),
        ("START", "058001", t(2.5)),
        ("FINISH", "058002", t(-60)),  # over the finish mat before the gun
        ("5K", "058101", t(1200)),  # a split is not a finish
        ("5K", "058004", t(1500)),  # still out on the course
        ("FINISH", "9999", t(2400)),  # nobody wears 9999
        ("FINISH", "058101", t(1845.6)),
        ("FINISH", "058002", t(2710.05)),
        ("FINISH", "058002", t(2712)),  # crossed again: the first finish counts
        ("FINISH", "058001", t(2825.37)),
        ("FINISH", "7777", t(3000.99)),
    )
    # The rival's session reads the same chip code: it is another tenant's event.
    rival_feed = await _feed(pool, "sc-rival", "CT-RIVAL")
    await rival_feed.reads(("FINISH", "guntime", t(0)), ("FINISH", "058001", t(600)))
    return Seeded(harbor, rival)


def _finisher(
    place: int, bib: str, name: str, gender: str, age: int, chip: str, clock: str, **kw: Any
) -> ResultRow:
    first, last = name.split()
    return ResultRow(place, bib, first, last, gender, age, chip, clock, **kw)  # type: ignore[arg-type]


async def _ids(pool: AsyncConnectionPool, event_id: int) -> dict[str, int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT bib, id FROM participants WHERE event_id = %s", (event_id,)
        )
        return {bib: pid for bib, pid in await cur.fetchall()}


async def test_results_from_stored_reads(pool: AsyncConnectionPool, seeded: Seeded) -> None:
    h = seeded.harbor
    ids = await _ids(pool, h.event.id)
    rows = await service.event_results(pool, h.tenant_id, h.event.id)
    assert rows == [
        _finisher(1, "1002", "Casey Example", "M", 41, "0:45:10.0", "0:45:10.0",
                  source_id=f"rd-{ids['1002']}"),
        _finisher(2, "1001", "Avery Testrunner", "F", 36, "0:47:02.8", "0:47:05.3",
                  source_id="3100001", city="Moorestown", state="NJ", country="US",
                  birth_date=date(1990, 4, 12)),
        _finisher(3, "1003", "Dana Walker", "F", 29, "0:50:00.9", "0:50:00.9",
                  source_id=f"rd-{ids['1003']}"),
        _finisher(1, "2001", "Jules Oexample", "M", 52, "0:30:45.6", "0:30:45.6",
                  source_id=f"rd-{ids['2001']}"),
        ResultRow(None, "2002", "Lee", "Dropped", "M", 26, status="dnf",
                  source_id=f"rd-{ids['2002']}"),
        ResultRow(None, "2003", "Sam", "Noshow", "F", 30, status="dns",
                  source_id=f"rd-{ids['2003']}"),
    ]  # fmt: skip
    placed = await service.event_placings(pool, h.tenant_id, h.event.id)
    assert [(p.sub_event, p.row.bib, p.gender_place) for p in placed.placings[:4]] == [
        ("10K", "1002", 1),
        ("10K", "1001", 1),
        ("10K", "1003", 2),
        ("5K", "2001", 1),
    ]
    # The rival's own results know only the rival's reads and people.
    rival = await service.event_results(pool, seeded.rival.tenant_id, seeded.rival.event.id)
    assert [(r.bib, r.clock_time) for r in rival] == [("1", "0:10:00.0")]
    with pytest.raises(NotFound):
        await service.event_results(pool, h.tenant_id, seeded.rival.event.id)


async def test_an_archived_session_is_left_out(pool: AsyncConnectionPool, seeded: Seeded) -> None:
    h = seeded.harbor
    async with pool.connection() as conn:
        await conn.execute("UPDATE timing_sessions SET status = 'archived' WHERE event_id = %s",
                           (h.event.id,))  # fmt: skip
    rows = await service.event_results(pool, h.tenant_id, h.event.id)
    assert [(r.bib, r.status) for r in rows] == [("2002", "dnf"), ("2003", "dns")]


async def test_post_full_results_sends_the_request_form_field(stub: Stub) -> None:
    posted: list[Seen] = []

    @stub.route("POST", FULL_RESULTS)
    def accept(seen: Seen) -> Reply:
        posted.append(seen)
        return Reply.json({"ok": True})

    rsu = RunSignup({"api_key": "v1-key", "api_secret": "v1-secret"}, base_url=stub.url)
    rows = [
        ResultRow(1, "1002", "Casey", "Example", "M", 41, "0:45:10.0", "0:45:10.1"),
        ResultRow(None, "0099", "Lee", "Dropped", "M", 26, status="dnf"),
    ]
    try:
        got = await rsu.post_full_results("90001", "700001", rows, result_set_id="55")
    finally:
        await rsu.aclose()
    assert got == {"ok": True}
    [seen] = posted
    assert json.loads(parse_qs(seen.body.decode())["request"][0]) == {
        "results": [
            {"bib_num": 1002, "place": 1, "clock_time": "0:45:10.1", "chip_time": "0:45:10.0"},
            {"bib_num": "0099", "clock_time": "DNF", "chip_time": "DNF"},
        ]
    }
    assert {k: seen.query[k] for k in ("format", "request_format", "event_id")} == {
        "format": "json",
        "request_format": "json",
        "event_id": "700001",
    }
    assert (seen.query["individual_result_set_id"], seen.query["api_key"]) == ("55", "v1-key")
    assert seen.query["api_secret"] == "v1-secret"


async def test_post_full_results_refused_is_a_clear_error(stub: Stub) -> None:
    stub.route("POST", FULL_RESULTS)(lambda seen: Reply.json(AUTH_ERROR))
    rsu = RunSignup({"rsu_api_key": KEY, "rsu_api_secret": SECRET}, base_url=stub.url, retry=FAST)
    with pytest.raises(BadCredentials, match="rejected the saved credentials") as caught:
        await rsu.post_full_results("90001", "700001", [ResultRow(1, "5", "A", "B", "F", 30)])
    await rsu.aclose()
    assert SECRET not in str(caught.value) and KEY not in str(caught.value)


# ---- through the app's pages -------------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[Stub]:
    with Stub() as server:
        yield server


@pytest.fixture
async def client(db_url: str, seeded: Seeded, stub: Stub) -> AsyncIterator[Client]:
    keys = {"credentials_key": CREDENTIALS_KEY, "runsignup_base_url": stub.url}
    async with app_client(db_url, **keys) as c:
        yield c


async def _runsignup_sync(pool: AsyncConnectionPool, stub: Stub, seed: TenantSeed) -> int:
    FakeRunSignup().install(stub)
    config = SyncConfig(credentials_key=CREDENTIALS_KEY, base_urls={"runsignup": stub.url})
    account = await provider_sync.connect_account(
        pool,
        config,
        seed.tenant_id,
        user_id=None,
        provider_slug="runsignup",
        label="Harbor RunSignup",
        values={"rsu_api_key": KEY, "rsu_api_secret": SECRET},
    )
    return await provider_sync.save_sync(
        pool,
        config,
        seed.tenant_id,
        seed.event.id,
        account_id=account.id,
        race_id="90001",
        chosen={"700001": "10K", "700002": "5K"},
    )


async def test_the_results_page_and_its_downloads(client: Client, seeded: Seeded) -> None:
    h = seeded.harbor
    await login(client, h.email)
    base = f"/events/{h.event.id}"
    page = await client.get(f"{base}/results")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Casey Example" in text and "0:47:02.8" in text and "0:47:05.3" in text
    assert "Mallory" not in text and "9999" not in text and "Stillout" not in text
    assert text.index("Casey Example") < text.index("Avery Testrunner") < text.index("Dana")
    assert f'href="{base}/results.csv?format=ultrasignup&amp;sub_event=10K&amp;rank=gun"' in text
    detail = await client.get(base)
    assert f'href="{base}/results"' in detail.text

    r = await client.get(
        f"{base}/results.csv", params={"format": "ultrasignup", "sub_event": "10K"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="harbor-run-2026-10k-results-ultrasignup.csv"'
    )
    assert r.text == (
        "place,time,first,last,gender,age,dob,bib,city,state,status\r\n"
        "1,0:45:10.0,Casey,Example,M,41,,1002,,,1\r\n"
        "2,0:47:02.8,Avery,Testrunner,F,36,1990-04-12,1001,Moorestown,NJ,1\r\n"
        "3,0:50:00.9,Dana,Walker,F,29,,1003,,,1\r\n"
    )
    r = await client.get(f"{base}/results.csv", params={"format": "runsignup", "sub_event": "5K"})
    assert list(csv.reader(io.StringIO(r.text))) == [
        ["place", "clock time", "chip time", "first", "last", "gender", "age", "bib", "city",
         "state"],
        ["1", "0:30:45.6", "0:30:45.6", "Jules", "Oexample", "M", "52", "2001", "", ""],
        ["", "DNF", "DNF", "Lee", "Dropped", "M", "26", "2002", "", ""],
        ["", "DNS", "DNS", "Sam", "Noshow", "F", "30", "2003", "", ""],
    ]  # fmt: skip
    everything = await client.get(f"{base}/results.csv", params={"format": "runsignup"})
    assert len(everything.text.splitlines()) == 7
    assert (await client.get(f"{base}/results.csv", params={"format": "xls"})).status_code == 400
    missing = await client.get(f"{base}/results.csv", params={"sub_event": "Marathon"})
    assert missing.status_code == 404

    r = await client.get(
        f"{base}/results/athlinks.json",
        params={"sub_event": "10K", "athlinks_event": "rd-harbor-2026"},
    )
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment;")
    body = r.json()
    assert (body["ThirdPartyEventId"], body["ThirdPartyRaceId"]) == (
        "rd-harbor-2026",
        "rd-harbor-2026-10k",
    )
    assert [(e["BibNum"], e["FinalTime"], e["Place"]) for e in body["Entries"]] == [
        ("1002", "0:45:10.0", 1),
        ("1001", "0:47:02.8", 2),
        ("1003", "0:50:00.9", 3),
    ]
    assert body["Entries"][1]["ThirdPartyEntryId"] == "3100001"
    plain = (await client.get(f"{base}/results/athlinks.json")).json()
    assert plain["ThirdPartyEventId"] == f"rd-{h.event.id}" and len(plain["Entries"]) == 6

    by_chip = await client.get(f"{base}/results", params={"rank": "chip"})
    assert by_chip.status_code == 200 and "chip time</strong>" in by_chip.text


async def test_posting_to_runsignup_through_the_page(
    client: Client, pool: AsyncConnectionPool, seeded: Seeded, stub: Stub
) -> None:
    h = seeded.harbor
    sync_id = await _runsignup_sync(pool, stub, h)
    posted: list[Seen] = []

    @stub.route("POST", FULL_RESULTS)
    def accept(seen: Seen) -> Reply:
        posted.append(seen)
        ok = seen.query.get("rsu_api_key") == KEY and seen.headers.get("x-rsu-api-secret") == SECRET
        return Reply.json({"results_submitted": 3} if ok else AUTH_ERROR)

    token = await login(client, h.email)
    page = await client.get(f"/events/{h.event.id}/results")
    assert f'<option value="{sync_id}">Example Harbor Run (Harbor RunSignup)</option>' in page.text
    r = await client.post(
        f"/events/{h.event.id}/results/runsignup",
        data={"sync_id": str(sync_id), "_csrf_token": token},
    )
    assert r.status_code == 200, r.text
    assert (
        "Posted <strong>10K</strong> to RunSignUp event 700001: 3 finishers, 0 DNF, 0 DNS" in r.text
    )
    assert (
        "Posted <strong>5K</strong> to RunSignUp event 700002: 1 finisher, 1 DNF, 1 DNS" in r.text
    )
    assert [p.query["event_id"] for p in posted] == ["700001", "700002"]
    for seen in posted:
        assert seen.query["rsu_api_key"] == KEY and seen.headers["x-rsu-api-secret"] == SECRET
        assert seen.query["request_format"] == "json" and seen.query["format"] == "json"
    bodies = [json.loads(parse_qs(p.body.decode())["request"][0]) for p in posted]
    assert bodies == [
        {"results": [
            {"bib_num": 1002, "place": 1, "clock_time": "0:45:10.0", "chip_time": "0:45:10.0"},
            {"bib_num": 1001, "place": 2, "clock_time": "0:47:05.3", "chip_time": "0:47:02.8"},
            {"bib_num": 1003, "place": 3, "clock_time": "0:50:00.9", "chip_time": "0:50:00.9"},
        ]},
        {"results": [
            {"bib_num": 2001, "place": 1, "clock_time": "0:30:45.6", "chip_time": "0:30:45.6"},
            {"bib_num": 2002, "clock_time": "DNF", "chip_time": "DNF"},
            {"bib_num": 2003, "clock_time": "DNS", "chip_time": "DNS"},
        ]},
    ]  # fmt: skip
    assert SECRET not in r.text


async def test_a_refused_post_shows_runsignups_answer(
    client: Client, pool: AsyncConnectionPool, seeded: Seeded, stub: Stub
) -> None:
    h = seeded.harbor
    sync_id = await _runsignup_sync(pool, stub, h)
    stub.route("POST", FULL_RESULTS)(lambda seen: Reply.json(AUTH_ERROR))
    token = await login(client, h.email)
    r = await client.post(
        f"/events/{h.event.id}/results/runsignup",
        data={"sync_id": str(sync_id), "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 400
    assert "RunSignUp refused the post." in r.text
    assert "RunSignup rejected the saved credentials (Key authentication failed)" in r.text
    assert SECRET not in r.text and "<html" not in r.text
    assert len(stub.requests_to(FULL_RESULTS)) == 1  # stopped at the first refusal


async def test_another_tenants_event_is_out_of_reach_on_every_results_route(
    client: Client, pool: AsyncConnectionPool, seeded: Seeded, stub: Stub
) -> None:
    h, rival = seeded.harbor, seeded.rival
    sync_id = await _runsignup_sync(pool, stub, h)
    token = await login(client, h.email)
    other = f"/events/{rival.event.id}"
    for path in (
        f"{other}/results",
        f"{other}/results.csv?format=ultrasignup",
        f"{other}/results.csv?format=runsignup",
        f"{other}/results/athlinks.json",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "Mallory" not in r.text
    r = await client.post(
        f"{other}/results/runsignup", data={"sync_id": str(sync_id), "_csrf_token": token}
    )
    assert r.status_code == 404
    assert stub.requests_to(FULL_RESULTS) == []
