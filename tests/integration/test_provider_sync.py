"""Provider sync end to end: real PostgreSQL, a real loopback RunSignup, the app's own pages."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.db import provider_sync as db
from app.db.pool import open_pool, tenant_connection
from app.domain.catalog import ParticipantIn
from app.domain.errors import InvalidInput, NotFound, Unavailable
from app.providers.http import RetryPolicy
from app.providers.secrets import CredentialBox, new_key
from app.services import provider_sync as service
from app.services.provider_sync import SyncConfig, SyncScheduler
from tests.integration.providers.stub_server import Reply, Seen, Stub
from tests.integration.providers.test_eventbrite import ATTENDEES as EB_ATTENDEES
from tests.integration.providers.test_eventbrite import TOKEN as EB_TOKEN
from tests.integration.providers.test_eventbrite import install as install_eventbrite
from tests.integration.tenancy import Client, TenantSeed, app_client, login, seed_tenant

pytestmark = pytest.mark.timeout(60)

KEY, SECRET = "rsu-key-XYZ123", "rsu-secret-Q9W8E7"
CREDENTIALS_KEY = new_key()
RACE = "/Rest/race/90001"
# Registrations no run has seen change lately (2023-11-14); fresh changes carry time.time().
OLD = 1_700_000_000
TEN_K, FIVE_K = 700001, 700002
FAST = RetryPolicy(attempts=2, max_wait_s=1.0, base_backoff_s=0.05)


def rsu_row(
    reg: int,
    event: int,
    bib: int | None,
    first: str,
    last: str,
    *,
    chip: str | None = None,
    modified: int = OLD,
    gender: str = "F",
    city: str = "Moorestown",
) -> dict[str, Any]:
    return {
        "user": {
            "user_id": 55_500_000 + reg % 1000,
            "first_name": first,
            "last_name": last,
            "dob": "1990-04-12",
            "gender": gender,
            "address": {"city": city, "state": "NJ", "country_code": "US"},
        },
        "registration_id": reg,
        "event_id": event,
        "bib_num": bib,
        "chip_num": chip,
        "age": 36,
        "team_name": None,
        "last_modified": modified,
        "question_responses": [],
    }


@dataclass
class FakeRunSignup:
    """A RunSignup account behind the loopback stub: keyset pages, modified_after_timestamp
    filtering and the removed-participants feed, from rows a test edits between runs."""

    key: str = KEY
    secret: str = SECRET
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    removed: list[dict[str, Any]] = field(default_factory=list)
    # A page after the first answers with a body RunSignup never sends.
    broken_after_first_page: bool = False
    # Seconds the second page takes (to watch progress while a run is under way).
    second_page_delay_s: float = 0.0

    def add(self, *rows: dict[str, Any]) -> None:
        for row in rows:
            self.rows[row["registration_id"]] = row

    def authed(self, seen: Seen) -> bool:
        return (
            seen.query.get("rsu_api_key") == self.key
            and seen.headers.get("x-rsu-api-secret") == self.secret
        )

    def install(self, stub: Stub) -> None:
        auth_error = Reply.json(
            {"error": {"error_code": 6, "error_msg": "Key authentication failed"}}
        )

        @stub.route("GET", "/Rest/races")
        def races(seen: Seen) -> Reply:
            return Reply.file("runsignup_races.json") if self.authed(seen) else auth_error

        @stub.route("GET", RACE)
        def race(seen: Seen) -> Reply:
            return Reply.file("runsignup_race.json") if self.authed(seen) else auth_error

        @stub.route("GET", f"{RACE}/participants")
        def participants(seen: Seen) -> Reply:
            if not self.authed(seen):
                return auth_error
            after = int(seen.query["after_registration_id"])
            if after and self.broken_after_first_page:
                return Reply.json({"participants": "not what RunSignup sends"})
            per = int(seen.query["results_per_page"])
            wanted = set(filter(None, seen.query.get("event_id", "").split(",")))
            since = int(seen.query.get("modified_after_timestamp", "0"))
            chosen = sorted(
                (
                    r
                    for r in self.rows.values()
                    if r["registration_id"] > after
                    and (not wanted or str(r["event_id"]) in wanted)
                    and r["last_modified"] >= since
                ),
                key=lambda r: r["registration_id"],
            )[:per]
            by_event: dict[int, list[dict[str, Any]]] = {}
            for r in chosen:
                by_event.setdefault(r["event_id"], []).append(r)
            body = [
                {"event": {"event_id": ev, "participants": []}, "participants": rows}
                for ev, rows in by_event.items()
            ] or [{"event": {"event_id": TEN_K, "participants": []}}]
            delay = self.second_page_delay_s if after else 0.0
            return Reply(200, _json(body), {"Content-Type": "application/json"}, delay)

        @stub.route("GET", f"{RACE}/removed-participants")
        def removed(seen: Seen) -> Reply:
            if not self.authed(seen):
                return auth_error
            since = int(seen.query.get("modified_after_timestamp", "0"))
            rows = [r for r in self.removed if r["last_modified_ts"] >= since]
            return Reply.json({"event": {"event_id": TEN_K, "participants": rows}})


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def stub() -> Iterator[Stub]:
    with Stub() as server:
        yield server


@pytest.fixture
def rsu(stub: Stub) -> FakeRunSignup:
    fake = FakeRunSignup()
    fake.add(
        rsu_row(3100001, TEN_K, 1001, "Avery", "Testrunner", chip="058001"),
        # Registered, but the race has not given out bibs to the walkers yet.
        rsu_row(3100002, FIVE_K, None, "Jules", "O'Example", gender="M", city="Montréal"),
        rsu_row(3100003, TEN_K, 1002, "Casey", "Example", chip="058002"),
        rsu_row(3100004, FIVE_K, 2001, "Dana", "Walker"),
    )
    fake.install(stub)
    return fake


@pytest.fixture
def config(stub: Stub) -> SyncConfig:
    return SyncConfig(
        credentials_key=CREDENTIALS_KEY,
        base_urls={"runsignup": stub.url},
        retry=FAST,
        page_size=2,
        progress_every_s=0.05,
    )


@pytest.fixture
async def seed(pool: AsyncConnectionPool) -> TenantSeed:
    seeded = await seed_tenant(pool, "harbor-timing", "Harbor Run 2026")
    async with pool.connection() as conn:
        # Entered by hand at the desk: no provider sync may touch it.
        await catalog.upsert_participants(
            conn, seeded.tenant_id, seeded.event.id, [ParticipantIn("42", "", "Manual", "Entry")]
        )
    return seeded


async def _connected_sync(pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed) -> int:
    account = await service.connect_account(
        pool,
        config,
        seed.tenant_id,
        user_id=None,
        provider_slug="runsignup",
        label="Harbor RunSignup",
        values={"rsu_api_key": KEY, "rsu_api_secret": SECRET},
    )
    return await service.save_sync(
        pool,
        config,
        seed.tenant_id,
        seed.event.id,
        account_id=account.id,
        race_id="90001",
        chosen={str(TEN_K): "10 km", str(FIVE_K): ""},
    )


async def _participants(pool: AsyncConnectionPool, event_id: int) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            """
            SELECT p.bib, p.source, p.source_id, p.first_name, p.last_name, p.gender, p.age,
                   p.city, p.country, p.birth_date::text, p.sub_event, p.status,
                   ARRAY(SELECT c.chip_code FROM participant_chips c
                          WHERE c.participant_id = p.id ORDER BY 1)
              FROM participants p WHERE p.event_id = %s ORDER BY p.bib
            """,
            (event_id,),
        )
        return await cur.fetchall()


async def _sync_row(pool: AsyncConnectionPool, seed: TenantSeed, sync_id: int) -> db.EventSync:
    return await service.get_sync(pool, seed.tenant_id, seed.event.id, sync_id)


MANUAL = ("42", "manual", None, "Manual", "Entry", "U", None, "", "", None, "", "registered", [])


def _rsu(bib: str, reg: int, first: str, last: str, sub: str, **kw: Any) -> tuple[Any, ...]:
    return (
        bib,
        "RunSignup",
        str(reg),
        first,
        last,
        kw.get("gender", "F"),
        36,
        kw.get("city", "Moorestown"),
        "US",
        "1990-04-12",
        sub,
        kw.get("status", "registered"),
        kw.get("chips", []),
    )


async def test_a_full_sync_stores_exactly_the_mapped_participants(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup, stub: Stub
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    outcome = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert outcome is not None and outcome.ok, outcome
    assert await _participants(pool, seed.event.id) == [
        _rsu("1001", 3100001, "Avery", "Testrunner", "10 km", chips=["58001"]),
        _rsu("1002", 3100003, "Casey", "Example", "10 km", chips=["58002"]),
        _rsu("2001", 3100004, "Dana", "Walker", "5K Walk"),
        MANUAL,
    ]
    row = await _sync_row(pool, seed, sync_id)
    assert row.state == "done"
    assert row.progress == 4
    assert row.counts == {
        "read": 4,
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "cancelled": 0,
        "withdrawn": 0,
        "no_bib": 1,
        "unmapped": 0,
        "rejected": 0,
        "incremental": False,
    }
    assert "1 registration has no bib yet" in row.message
    assert row.cursor_at is not None
    # Keyset pages of 2, asked for the mapped sub-events only, and nothing incremental yet.
    pages = stub.requests_to(f"{RACE}/participants")
    assert [p.query["after_registration_id"] for p in pages] == ["0", "3100002", "3100004"]
    assert {p.query["event_id"] for p in pages} == {f"{TEN_K},{FIVE_K}"}
    assert all("modified_after_timestamp" not in p.query for p in pages)

    # The same list again changes nothing; a registration gone from it is marked cancelled.
    del rsu.rows[3100004]
    again = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id, full=True)
    assert again is not None and again.ok
    assert again.counts["unchanged"] == 2 and again.counts["cancelled"] == 1
    rows = await _participants(pool, seed.event.id)
    assert rows[2] == _rsu("2001", 3100004, "Dana", "Walker", "5K Walk", status="cancelled")
    assert rows[3] == MANUAL


async def test_an_incremental_resync_applies_changes_and_the_removed_feed(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup, stub: Stub
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    first = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert first is not None and first.ok
    cursor = (await _sync_row(pool, seed, sync_id)).cursor_at
    assert cursor is not None
    stub.seen.clear()

    now = int(time.time())
    rsu.add(
        rsu_row(3100003, TEN_K, 1002, "Casey", "Renamed", chip="058002", modified=now),
        rsu_row(3100005, TEN_K, 1003, "Eli", "Latecomer", modified=now),
    )
    # Transferred away: gone from the participant list, listed in the removed feed.
    del rsu.rows[3100001]
    rsu.removed.append(
        {
            "user": {"first_name": "Avery", "last_name": "Testrunner"},
            "registration_id": 3100001,
            "last_modified_ts": now,
            "removed_reason": "transferred",
            "new_registration_id": 3100044,
        }
    )
    second = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert second is not None and second.ok, second
    assert second.counts == {
        "read": 2,
        "added": 1,
        "updated": 1,
        "unchanged": 0,
        "cancelled": 0,
        "withdrawn": 1,
        "no_bib": 0,
        "unmapped": 0,
        "rejected": 0,
    }
    asked = {p.query["modified_after_timestamp"] for p in stub.requests_to(f"{RACE}/participants")}
    assert asked == {str(int(cursor.timestamp()) + 1)}
    removed_asked = stub.requests_to(f"{RACE}/removed-participants")
    assert [p.query["modified_after_timestamp"] for p in removed_asked] == [
        str(int(cursor.timestamp()) + 1)
    ]
    assert await _participants(pool, seed.event.id) == [
        _rsu(
            "1001", 3100001, "Avery", "Testrunner", "10 km", chips=["58001"], status="transferred"
        ),
        _rsu("1002", 3100003, "Casey", "Renamed", "10 km", chips=["58002"]),
        _rsu("1003", 3100005, "Eli", "Latecomer", "10 km"),
        # Not in the changes, so untouched: an incremental run never reads absence as removal.
        _rsu("2001", 3100004, "Dana", "Walker", "5K Walk"),
        MANUAL,
    ]
    row = await _sync_row(pool, seed, sync_id)
    assert row.state == "done" and row.counts is not None and row.counts["incremental"] is True
    assert row.cursor_at is not None and row.cursor_at > cursor
    assert row.message.startswith("Changes since the last run: 1 added, 1 updated")

    # A full run later: the transferred registration keeps its status, nothing is cancelled.
    full = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id, full=True)
    assert full is not None and full.ok
    assert (full.counts["unchanged"], full.counts["cancelled"], full.counts["withdrawn"]) == (
        3,
        0,
        0,
    )
    assert (await _participants(pool, seed.event.id))[0][11] == "transferred"


async def test_a_sync_failing_midway_changes_nothing_and_says_why(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    first = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert first is not None and first.ok
    before = await _participants(pool, seed.event.id)
    cursor = (await _sync_row(pool, seed, sync_id)).cursor_at

    # Page 1 carries a rename and a new runner; page 2 is unreadable.
    rsu.add(
        rsu_row(3100001, TEN_K, 1001, "Avery", "Changed", chip="058001"),
        rsu_row(3100000, TEN_K, 1999, "New", "Runner"),
    )
    rsu.broken_after_first_page = True
    failed = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id, full=True)
    assert failed is not None and not failed.ok
    assert await _participants(pool, seed.event.id) == before
    row = await _sync_row(pool, seed, sync_id)
    assert row.state == "failed"
    assert row.message.startswith("RunSignup sent data we cannot read: participants page 2")
    assert row.message.endswith("Nothing was changed.")
    assert row.cursor_at == cursor
    assert row.progress == 2  # the rows of page 1 were read before the failure

    # Credentials the provider no longer accepts: the same, with the provider's reason.
    rsu.broken_after_first_page = False
    rsu.secret = "rotated-at-runsignup"
    refused = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert refused is not None and not refused.ok
    assert await _participants(pool, seed.event.id) == before
    row = await _sync_row(pool, seed, sync_id)
    assert row.state == "failed"
    assert "RunSignup rejected the saved credentials (Key authentication failed)" in row.message
    assert SECRET not in row.message and KEY not in row.message


async def test_progress_is_visible_from_another_connection_while_a_run_is_under_way(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    rsu.second_page_delay_s = 1.5
    run = asyncio.create_task(service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id))
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not run.done():
        row = await _sync_row(pool, seed, sync_id)
        seen.append((row.state, row.progress))
        if row.state == "running" and row.progress == 2:
            break
        await asyncio.sleep(0.05)
    outcome = await run
    assert ("running", 2) in seen, seen
    assert outcome is not None and outcome.ok
    # A run already under way is not started a second time.
    assert await service.start_run(pool, seed.tenant_id, seed.event.id, sync_id)
    assert not await service.start_run(pool, seed.tenant_id, seed.event.id, sync_id)


async def test_concurrent_scheduler_claims_never_run_a_sync_twice(
    pool: AsyncConnectionPool,
    db_url: str,
    config: SyncConfig,
    seed: TenantSeed,
    rsu: FakeRunSignup,
    stub: Stub,
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    account_id = (await _sync_row(pool, seed, sync_id)).account_id
    # Twelve more due syncs (races the stub does not serve: they fail, once each).
    async with tenant_connection(pool, seed.tenant_id) as conn:
        others = [
            await db.upsert_sync(
                conn,
                seed.tenant_id,
                seed.event.id,
                account_id=account_id,
                race_id=f"race-{n}",
                race_name=f"Race {n}",
                sub_events={"1": "x"},
                until_at=None,
            )
            for n in range(12)
        ]
    for sid in [sync_id, *others]:
        await service.set_schedule(
            pool, seed.tenant_id, seed.event.id, sid, every_minutes="10", until=""
        )
    # Two app workers, each with its own pool, each with two claimers at once.
    other_pool = await open_pool(db_url, min_size=1, max_size=4)
    try:
        claims = await asyncio.gather(
            service.claim_due(pool, limit=4),
            service.claim_due(other_pool, limit=4),
            service.claim_due(pool, limit=4),
            service.claim_due(other_pool, limit=4),
        )
    finally:
        await other_pool.close()
    ids = [c.id for claim in claims for c in claim]
    assert len(ids) == len(set(ids)) == 13
    assert set(ids) == {sync_id, *others}
    # Claimed rows are running and due again in ten minutes, so a second look finds nothing.
    assert await service.claim_due(pool, limit=50) == []
    row = await _sync_row(pool, seed, sync_id)
    assert row.state == "running" and row.next_run_at is not None
    assert timedelta(minutes=9) < row.next_run_at - datetime.now(UTC) <= timedelta(minutes=10)

    # Two schedulers looking at one due sync at once: it runs exactly once.
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE event_syncs SET state = 'idle', next_run_at = now() - interval '1 minute'"
            " WHERE id = %s",
            (sync_id,),
        )
        await conn.execute("UPDATE event_syncs SET next_run_at = NULL WHERE id <> %s", (sync_id,))
    stub.seen.clear()
    a, b = SyncScheduler(pool, config), SyncScheduler(pool, config)
    claimed = await asyncio.gather(a.tick(), b.tick())
    await a.idle()
    await b.idle()
    assert sorted(len(c) for c in claimed) == [0, 1]
    first_pages = [
        s
        for s in stub.requests_to(f"{RACE}/participants")
        if s.query["after_registration_id"] == "0"
    ]
    assert len(first_pages) == 1
    assert (await _sync_row(pool, seed, sync_id)).state == "done"


async def test_a_schedule_ends_at_its_until_time(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    soon = datetime.now(UTC) + timedelta(minutes=3)
    local = soon.replace(tzinfo=None)  # the event's zone is UTC
    row = await service.set_schedule(
        pool,
        seed.tenant_id,
        seed.event.id,
        sync_id,
        every_minutes="10",
        until=local.strftime("%Y-%m-%dT%H:%M"),
    )
    assert row.every_minutes == 10 and row.next_run_at is not None and row.until_at is not None
    [claim] = await service.claim_due(pool)
    assert claim.id == sync_id
    # The next run would fall after the end: the last one is at the end itself.
    assert (await _sync_row(pool, seed, sync_id)).next_run_at == row.until_at
    with pytest.raises(InvalidInput, match="5 to 1440"):
        await service.set_schedule(
            pool, seed.tenant_id, seed.event.id, sync_id, every_minutes="2", until=""
        )
    off = await service.set_schedule(
        pool, seed.tenant_id, seed.event.id, sync_id, every_minutes="", until=""
    )
    assert off.every_minutes is None and off.next_run_at is None


# ---- through the app's pages -------------------------------------------------------------


@pytest.fixture
async def client(db_url: str, seed: TenantSeed, stub: Stub) -> AsyncIterator[Client]:
    keys = {"credentials_key": CREDENTIALS_KEY, "runsignup_base_url": stub.url}
    async with app_client(db_url, **keys) as c:
        yield c


_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def test_credentials_are_stored_encrypted_and_never_shown_or_logged(
    client: Client,
    pool: AsyncConnectionPool,
    seed: TenantSeed,
    rsu: FakeRunSignup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await login(client, seed.email)
    event_id = seed.event.id
    form = await client.get(f"/providers/connect?provider=runsignup&event_id={event_id}")
    assert form.status_code == 200
    assert 'name="rsu_api_secret" type="password"' in form.text

    def connect(secret: str) -> dict[str, str]:
        return {
            "_csrf_token": token,
            "provider": "runsignup",
            "event_id": str(event_id),
            "label": "Harbor RunSignup",
            "rsu_api_key": KEY,
            "rsu_api_secret": secret,
        }

    wrong = await client.post("/providers/connect", data=connect("not-the-secret"))
    assert wrong.status_code == 400
    assert "RunSignup rejected the saved credentials (Key authentication failed)" in wrong.text
    assert "not-the-secret" not in wrong.text
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM provider_accounts")
        assert await cur.fetchone() == (0,)

    made = await client.post("/providers/connect", data=connect(SECRET), follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == f"/events/{event_id}/sync"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, provider, secret FROM provider_accounts")
        [(account_id, provider, raw)] = await cur.fetchall()
    raw = bytes(raw)
    assert provider == "runsignup"
    for plain in (KEY, SECRET):
        assert plain.encode() not in raw
    assert CredentialBox(CREDENTIALS_KEY).decrypt(raw) == {
        "rsu_api_key": KEY,
        "rsu_api_secret": SECRET,
    }

    # Map the race through the pages, run it, and poll its status fragment.
    races = await client.get(f"/events/{event_id}/sync/races?account_id={account_id}")
    assert races.status_code == 200 and "Example Harbor Run" in races.text
    mapping = await client.get(f"/events/{event_id}/sync/map?account_id={account_id}&race_id=90001")
    assert mapping.status_code == 200 and "5K Walk" in mapping.text
    saved = await client.post(
        f"/events/{event_id}/sync/map",
        data={
            "_csrf_token": token,
            "account_id": str(account_id),
            "race_id": "90001",
            "sub_id": [str(TEN_K), str(FIVE_K)],
            "sub_name": ["10 km", "5K Walk"],
            "include": [str(TEN_K)],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    sync_id = int(saved.headers["location"].rsplit("-", 1)[1])
    page = await client.get(f"/events/{event_id}/sync")
    assert "Export-file import only" in page.text
    assert f'href="/events/{event_id}/participants"' in page.text
    assert "UltraSignup" in page.text and "Race Roster" in page.text

    started = await client.post(
        f"/events/{event_id}/sync/{sync_id}/run",
        data={"_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert started.status_code == 200
    assert 'hx-trigger="every 1s"' in started.text
    deadline = time.monotonic() + 15
    status = started
    while time.monotonic() < deadline and 'hx-trigger="every 1s"' in status.text:
        await asyncio.sleep(0.1)
        status = await client.get(f"/events/{event_id}/sync/{sync_id}/status")
    assert "hx-trigger" not in status.text
    assert "Full sync: 2 added" in status.text, status.text
    # Only the 10K was mapped: the walker with bib 2001 is not here.
    assert [r[0] for r in await _participants(pool, event_id)] == ["1001", "1002", "42"]

    pages = [
        "/providers",
        f"/providers/connect?provider=runsignup&event_id={event_id}",
        f"/events/{event_id}/sync",
        f"/events/{event_id}/sync/races?account_id={account_id}",
        f"/events/{event_id}/sync/map?account_id={account_id}&race_id=90001",
        f"/events/{event_id}/sync/{sync_id}/status",
    ]
    for path in pages:
        r = await client.get(path)
        assert r.status_code == 200, path
        for plain in (KEY, SECRET):
            assert plain not in r.text, f"{path} shows a credential"
    for plain in (KEY, SECRET):
        assert plain not in caplog.text, "a credential reached the log"

    removed = await client.post(
        f"/providers/{account_id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert removed.status_code == 303
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM event_syncs")
        assert await cur.fetchone() == (0,)


async def test_export_only_providers_say_so_and_link_to_the_upload_page(
    client: Client, seed: TenantSeed
) -> None:
    await login(client, seed.email)
    page = await client.get(f"/providers/connect?provider=ultrasignup&event_id={seed.event.id}")
    assert page.status_code == 200
    assert "Export-file import, not a sync" in page.text
    assert f'href="/events/{seed.event.id}/participants"' in page.text
    assert 'action="/providers/connect"' not in page.text
    listing = await client.get("/providers")
    for name in ("UltraSignup", "ACTIVE.com", "Race Roster"):
        assert name in listing.text


async def test_an_eventbrite_sync_stores_attendees_and_resyncs_with_changed_since(
    pool: AsyncConnectionPool, seed: TenantSeed, stub: Stub
) -> None:
    install_eventbrite(stub)
    config = SyncConfig(
        credentials_key=CREDENTIALS_KEY, base_urls={"eventbrite": stub.url}, retry=FAST
    )
    account = await service.connect_account(
        pool,
        config,
        seed.tenant_id,
        user_id=None,
        provider_slug="eventbrite",
        label="",
        values={"token": EB_TOKEN, "organization_id": "4400001"},
    )
    assert account.label == "Eventbrite"
    sync_id = await service.save_sync(
        pool,
        config,
        seed.tenant_id,
        seed.event.id,
        account_id=account.id,
        race_id="700000000001",
        chosen={"3300000001": "", "3300000002": "5K"},
    )
    row = await _sync_row(pool, seed, sync_id)
    # The race start (from the provider) is where a schedule ends unless told otherwise;
    # a start already past gives no default.
    start = datetime(2026, 4, 18, 12, 30, tzinfo=UTC)
    assert row.until_at == (start if start > datetime.now(UTC) else None)
    first = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert first is not None and first.ok, first
    rows = await _participants(pool, seed.event.id)
    assert rows[0][:12] == (
        "215", "Eventbrite", "9100000001", "Noor", "Example", "F", 31, "Austin", "US",
        "1994-09-09", "10K Run", "registered",
    )  # fmt: skip
    assert rows[0][12] == [] and rows[1] == MANUAL
    assert first.counts["no_bib"] == 1  # the cancelled attendee never had a bib

    stub.seen.clear()
    again = await service.run_now(pool, config, seed.tenant_id, seed.event.id, sync_id)
    assert again is not None and again.ok
    cursor = (await _sync_row(pool, seed, sync_id)).cursor_at
    asked = [s.query.get("changed_since") for s in stub.requests_to(EB_ATTENDEES)]
    assert asked and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a or "") for a in asked)
    assert cursor is not None and again.counts["unchanged"] == 1


async def test_another_tenants_accounts_and_syncs_are_out_of_reach(
    pool: AsyncConnectionPool, config: SyncConfig, seed: TenantSeed, rsu: FakeRunSignup
) -> None:
    sync_id = await _connected_sync(pool, config, seed)
    account_id = (await _sync_row(pool, seed, sync_id)).account_id
    rival = await seed_tenant(pool, "rival-timing", "Rival Run")
    with pytest.raises(NotFound):
        await service.account_races(pool, config, rival.tenant_id, account_id)
    with pytest.raises(NotFound):
        await service.save_sync(
            pool,
            config,
            rival.tenant_id,
            rival.event.id,
            account_id=account_id,
            race_id="90001",
            chosen={str(TEN_K): ""},
        )
    with pytest.raises(NotFound):
        await service.start_run(pool, rival.tenant_id, seed.event.id, sync_id)
    with pytest.raises(NotFound):
        await service.delete_account(pool, rival.tenant_id, account_id)
    assert await service.list_accounts(pool, rival.tenant_id) == []
    # A wrong key never reaches the provider: the account is simply not usable.
    wrong_key = SyncConfig(credentials_key=new_key(), base_urls=config.base_urls)
    with pytest.raises(Unavailable, match="not the key"):
        await service.account_races(pool, wrong_key, seed.tenant_id, account_id)
