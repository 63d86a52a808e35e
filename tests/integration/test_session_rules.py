"""The rules that give a session to a tenant, and what a tenant does with its sessions.

A real collector on loopback (real TCP, real PostgreSQL, in-process bus) and the web app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.codes import as_provider_key, split_location
from app.domain.reads import ReadBatch, event_channel, session_channel
from app.pubsub import MemoryBus
from app.services import sessions as session_service
from app.settings import Settings
from app.web.factory import create_app
from tests.integration.tenancy import Client, Provider, TenantSeed, login, open_session, seed_tenant
from tests.integration.test_collector import eventually, scalar

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from collector.session import Timeouts

pytestmark = pytest.mark.timeout(90)
KEY = "rd-7K3QX9"


@dataclass
class Rig:
    collector: Collector
    bus: MemoryBus
    pool: AsyncConnectionPool


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "collector_port": 0,
        "status_port": 0,
        "batch_max_rows": 50,
        "batch_max_ms": 20,
        "spool_dir": tmp_path / "spool",
    }
    return Settings(**{**base, **overrides})


@pytest.fixture
async def rig(pool: AsyncConnectionPool, tmp_path: Path) -> AsyncIterator[Rig]:
    bus = MemoryBus()
    collector = Collector(
        _settings(tmp_path), pool, bus, timeouts=Timeouts(acks=2.0), claims_every=0.1
    )
    await collector.start()
    try:
        yield Rig(collector, bus, pool)
    finally:
        await collector.stop()
        await bus.close()


class Listener:
    """Every batch published on some channels, with the channel it came on."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, ReadBatch]] = []

    def tags_on(self, channel: str) -> set[str]:
        return {r.tag_code for ch, b in self.batches if ch == channel for r in b.reads}


@contextlib.asynccontextmanager
async def listening(bus: MemoryBus, *channels: str) -> AsyncIterator[Listener]:
    listener = Listener()

    async def run(sub: Any) -> None:
        async for channel, message in sub:
            listener.batches.append((channel, ReadBatch.from_json(message)))

    async with bus.subscribe(*channels) as sub:
        task = asyncio.create_task(run(sub))
        try:
            yield listener
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _claim_of(pool: AsyncConnectionPool, identity: str) -> tuple[Any, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant_id, event_id FROM timing_sessions WHERE provider_identity = %s"
            " AND status = 'active'",
            (identity,),
        )
        row = await cur.fetchone()
    return (None, None) if row is None else (row[0], row[1])


def test_provider_keys_are_read_in_any_case_and_split_off_locations() -> None:
    assert as_provider_key("RD-7k3qx9") == KEY
    assert as_provider_key("rd-7K3QX") is None and as_provider_key("xx-7K3QX9") is None
    assert split_location(f"{KEY.lower()}.FINISH") == (KEY, "FINISH")
    assert split_location("FINISH") == (None, "FINISH")
    assert split_location("10.5K") == (None, "10.5K")
    assert split_location(f"{KEY}.") == (None, f"{KEY}.")


async def test_a_provider_key_as_connection_id_claims_the_session(rig: Rig) -> None:
    seed = await seed_tenant(rig.pool, "harbor-timing", "Harbor 10K", provider_key=KEY)
    async with listening(rig.bus, event_channel(seed.event.id)) as heard:
        # Typed by hand in lower case, and with a ChronoTrack event id nobody registered.
        p = await Provider.connect(
            rig.collector.tcp_port, connection_id=KEY.lower(), ct_event_id="NOBODY"
        )
        p.read(1, tag="501")
        await p.round_trip()
        assert await _claim_of(rig.pool, KEY.lower()) == (seed.tenant_id, seed.event.id)

        async def heard_it() -> bool:
            return heard.tags_on(event_channel(seed.event.id)) == {"501"}

        await eventually(heard_it)
        p.close()


async def test_a_provider_key_as_location_prefix_is_stripped_from_the_stored_name(
    rig: Rig,
) -> None:
    seed = await seed_tenant(rig.pool, "harbor-timing", "Harbor 10K", provider_key=KEY)
    prefixed = f"{KEY}.FINISH"
    async with listening(rig.bus, event_channel(seed.event.id)) as heard:
        p = await Provider.connect(
            rig.collector.tcp_port, connection_id="finish-laptop", locations=(prefixed,)
        )
        assert p.starts == ["start"]
        p.read(1, location=prefixed, tag="501")
        p.read(2, location=prefixed, tag="502")
        await p.round_trip()
        assert await _claim_of(rig.pool, "finish-laptop") == (seed.tenant_id, seed.event.id)

        async def stored() -> bool:
            return bool(await scalar(rig.pool, "SELECT count(*) FROM timing_reads") == 2)

        await eventually(stored)
        await eventually(lambda: _true(heard.tags_on(event_channel(seed.event.id)) >= {"501"}))
        p.close()
    names = await scalar(
        rig.pool,
        "SELECT array_agg(DISTINCT location_name) FROM timing_reads",
    )
    assert names == ["FINISH"]
    assert await scalar(rig.pool, "SELECT array_agg(location_name) FROM timing_locations") == [
        "FINISH"
    ]
    # A reconnect resumes the location by the name the provider knows it by.
    again = await Provider.connect(
        rig.collector.tcp_port, connection_id="finish-laptop", locations=(prefixed,)
    )
    assert again.starts == [f"start~{prefixed}~3"]
    again.close()


async def _true(value: bool) -> bool:
    return value


async def test_the_chronotrack_event_id_is_tried_before_the_provider_key(rig: Rig) -> None:
    by_id = await seed_tenant(rig.pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-77")
    by_key = await seed_tenant(rig.pool, "rival-timing", "Rival Run", provider_key=KEY)
    p = await Provider.connect(rig.collector.tcp_port, connection_id=KEY, ct_event_id="CT-77")
    await p.round_trip()
    assert await _claim_of(rig.pool, KEY) == (by_id.tenant_id, by_id.event.id)
    p.close()
    # Without a matching event id, the key decides; an archived event's key claims nothing.
    p = await Provider.connect(rig.collector.tcp_port, connection_id="second", locations=(
        f"{KEY}.START",))  # fmt: skip
    await p.round_trip()
    assert await _claim_of(rig.pool, "second") == (by_key.tenant_id, by_key.event.id)
    p.close()
    async with rig.pool.connection() as conn:
        await conn.execute(
            "UPDATE events SET archived_at = now() WHERE id = %s", (by_key.event.id,)
        )
    p = await Provider.connect(rig.collector.tcp_port, connection_id=KEY.replace("rd", "RD"))
    await p.round_trip()
    assert await _claim_of(rig.pool, KEY.replace("rd", "RD")) == (None, None)
    p.close()


async def test_moving_and_detaching_a_session_moves_its_next_reads(rig: Rig) -> None:
    seed = await seed_tenant(rig.pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    async with rig.pool.connection() as conn:
        other = await catalog.create_event(conn, tenant_id=seed.tenant_id, name="Harbor 5K")
    first, second = event_channel(seed.event.id), event_channel(other.id)
    p = await Provider.connect(rig.collector.tcp_port, connection_id="sc-1", ct_event_id="CT-1")
    session_id = await scalar(rig.pool, "SELECT id FROM timing_sessions")
    async with listening(rig.bus, first, second, session_channel(session_id)) as heard:
        p.read(1, tag="1")
        await eventually(lambda: _true(heard.tags_on(first) == {"1"}))
        await session_service.move(rig.pool, seed.tenant_id, session_id, other.id)
        # The collector re-reads claims every 0.1 s here (2 s in production).
        await eventually(lambda: _true(_status_event(rig, session_id) == other.id))
        p.read(2, tag="2")
        await eventually(lambda: _true(heard.tags_on(second) == {"2"}))
        await session_service.detach(rig.pool, seed.tenant_id, session_id)
        await eventually(lambda: _true(_status_event(rig, session_id) is None))
        p.read(3, tag="3")
        await eventually(lambda: _true(heard.tags_on(session_channel(session_id)) == {"3"}))
        assert heard.tags_on(first) == {"1"}
    # Detached, the session stays the tenant's: a reconnect does not hand it to a rule again.
    assert await _claim_of(rig.pool, "sc-1") == (seed.tenant_id, None)
    p.close()


def _status_event(rig: Rig, session_id: int) -> Any:
    providers = [p for p in rig.collector.stats()["providers"] if p["session_id"] == session_id]
    return providers[0]["event_id"] if providers else "gone"


async def test_ending_a_session_closes_its_connection_and_the_next_opens_a_new_one(
    rig: Rig,
) -> None:
    seed = await seed_tenant(rig.pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    p = await Provider.connect(rig.collector.tcp_port, connection_id="sc-1", ct_event_id="CT-1")
    session_id = await scalar(rig.pool, "SELECT id FROM timing_sessions")
    await session_service.end(rig.pool, seed.tenant_id, session_id, user_id=await _user(rig))
    assert await p.closed_by_peer()
    again = await Provider.connect(rig.collector.tcp_port, connection_id="sc-1", ct_event_id="CT-1")
    await again.round_trip()
    rows = await scalar(
        rig.pool, "SELECT array_agg(status ORDER BY id) FROM timing_sessions WHERE event_id = %s",
        seed.event.id,
    )  # fmt: skip
    assert rows == ["completed", "active"]
    again.close()


async def _user(rig: Rig) -> int:
    return int(await scalar(rig.pool, "SELECT min(id) FROM users"))


async def test_session_cleanup_runs_on_its_schedule(
    pool: AsyncConnectionPool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    idle = await open_session(pool, "idle-provider", "Session_idle")
    gone = await open_session(pool, "old-provider", "Session_old")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE timing_sessions SET updated_at = now() - interval '4 days' WHERE id = %s",
            (idle,),
        )
        await conn.execute(
            "UPDATE timing_sessions SET status = 'archived', updated_at = now() - interval '9 days'"
            " WHERE id = %s",
            (gone,),
        )
    bus = MemoryBus()
    settings = _settings(tmp_path, session_retention_days=3)
    collector = Collector(settings, pool, bus, cleanup_every=0.05)
    caplog.set_level(logging.INFO, logger="collector.server")
    await collector.start()
    try:

        async def ran() -> bool:
            return collector.cleanups >= 1

        await eventually(ran)
    finally:
        await collector.stop()
        await bus.close()
    assert await scalar(pool, "SELECT status FROM timing_sessions WHERE id = %s", idle) == (
        "completed"
    )
    assert await scalar(pool, "SELECT count(*) FROM timing_sessions WHERE id = %s", gone) == 0
    assert any("session cleanup: 2 session(s)" in r.getMessage() for r in caplog.records)
    assert Settings.from_env({"SESSION_RETENTION_DAYS": "30"}).session_retention_days == 30
    assert Settings.from_env({}).session_retention_days == 7
    with pytest.raises(ValueError, match="SESSION_RETENTION_DAYS"):
        Settings.from_env({"SESSION_RETENTION_DAYS": "0"})


# -- the tenant's pages ---------------------------------------------------------------------


@pytest.fixture
async def two_tenants(pool: AsyncConnectionPool) -> tuple[TenantSeed, TenantSeed, int, int]:
    mine = await seed_tenant(pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon", ct_event_id="CT-2")
    my_session = await open_session(pool, "harbor-sc", "Session_harbor")
    rival_session = await open_session(pool, "rival-sc", "Session_rival_secret")
    async with pool.connection() as conn:
        await timing.claim_session(conn, my_session, "CT-1", "Harbor 10K")
        await timing.claim_session(conn, rival_session, "CT-2", "Secret Marathon")
    return mine, rival, my_session, rival_session


@pytest.fixture
async def web(db_url: str) -> AsyncIterator[Client]:
    settings = Settings(
        database_url=db_url,
        secret_key="test-secret-" + "x" * 40,
        collector_status_url="http://127.0.0.1:9/status",
    )
    async with Client(app=create_app(settings), base_url="https://testserver.local") as c:
        yield c


async def test_a_tenant_renames_moves_detaches_ends_and_archives_its_session(
    web: Client, two_tenants: tuple[TenantSeed, TenantSeed, int, int], pool: AsyncConnectionPool
) -> None:
    mine, _, session_id, _ = two_tenants
    token = await login(web, mine.email)
    page = await web.get(f"/events/{mine.event.id}")
    assert "Session_harbor" in page.text and f'href="/sessions/{session_id}"' in page.text
    assert "Session_rival_secret" not in page.text
    async with pool.connection() as conn:
        other = await catalog.create_event(conn, tenant_id=mine.tenant_id, name="Harbor 5K")

    def post(action: str, **data: object) -> Any:
        return web.post(
            f"/sessions/{session_id}/{action}",
            data={"_csrf_token": token, **data},
            follow_redirects=False,
        )

    assert (await post("rename", display_name="Finish mat A")).status_code == 303
    fragment = await web.get(f"/events/{mine.event.id}/sessions")
    assert "Finish mat A" in fragment.text and "Session_harbor" in fragment.text

    moved = await post("move", event_id=other.id)
    assert moved.status_code == 303 and moved.headers["location"] == f"/events/{other.id}"
    assert "Finish mat A" not in (await web.get(f"/events/{mine.event.id}/sessions")).text
    assert "Finish mat A" in (await web.get(f"/events/{other.id}/sessions")).text

    assert (await post("detach")).status_code == 303
    assert (
        await scalar(pool, "SELECT event_id FROM timing_sessions WHERE id = %s", session_id) is None
    )
    # A detached session is offered on the tenant's event pages, to feed one again.
    offered = await web.get(f"/events/{mine.event.id}")
    assert "Your sessions feeding no event" in offered.text and "Finish mat A" in offered.text
    attached = await web.post(
        f"/events/{mine.event.id}/sessions/attach",
        data={"_csrf_token": token, "session_id": session_id},
        follow_redirects=False,
    )
    assert attached.status_code == 303
    assert await scalar(pool, "SELECT event_id FROM timing_sessions WHERE id = %s", session_id) == (
        mine.event.id
    )

    assert (await post("end")).status_code == 303
    assert await scalar(pool, "SELECT status FROM timing_sessions WHERE id = %s", session_id) == (
        "completed"
    )
    archived = await post("archive")
    assert archived.status_code == 303
    assert archived.headers["location"] == f"/events/{mine.event.id}"
    assert "Finish mat A" not in (await web.get(f"/events/{mine.event.id}/sessions")).text
    actions = await scalar(
        pool, "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE tenant_id = %s"
        " AND action LIKE 'session.%%'",
        mine.tenant_id,
    )  # fmt: skip
    assert actions == ["session.end", "session.archive"]


async def test_another_tenants_session_is_404(
    web: Client, two_tenants: tuple[TenantSeed, TenantSeed, int, int], pool: AsyncConnectionPool
) -> None:
    mine, rival, _, rival_session = two_tenants
    token = await login(web, mine.email)
    path = f"/sessions/{rival_session}"
    responses = [await web.get(path)]
    for action, data in (
        ("rename", {"display_name": "mine now"}),
        ("move", {"event_id": mine.event.id}),
        ("detach", {}),
        ("end", {}),
        ("archive", {}),
    ):
        responses.append(await web.post(f"{path}/{action}", data={"_csrf_token": token, **data}))
    responses.append(
        await web.post(
            f"/events/{mine.event.id}/sessions/attach",
            data={"_csrf_token": token, "session_id": rival_session},
        )
    )
    for r in responses:
        assert r.status_code == 404, r.url
        for secret in ("Session_rival_secret", "Secret Marathon", "rival-sc"):
            assert secret not in r.text
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant_id, event_id, status, display_name FROM timing_sessions WHERE id = %s",
            (rival_session,),
        )
        assert await cur.fetchone() == (rival.tenant_id, rival.event.id, "active", "")


async def test_the_event_page_shows_which_sessions_are_connected_now(
    db_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    # On its own thread and loop, as in production: the test client blocks the test's loop.
    # (Imported here: that module's `rig` would shadow this module's fixture.)
    from tests.integration.test_operations_page import CollectorThread

    seed = await seed_tenant(pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    thread = CollectorThread(_settings(tmp_path), db_url)
    collector = await thread.start()
    try:
        p = await Provider.connect(collector.tcp_port, connection_id="sc-live", ct_event_id="CT-1")
        await p.round_trip()
        settings = Settings(
            database_url=db_url,
            secret_key="test-secret-" + "x" * 40,
            collector_status_url=f"http://127.0.0.1:{collector.status_port}/status",
        )
        async with Client(app=create_app(settings), base_url="https://testserver.local") as web:
            await login(web, seed.email)
            fragment = await web.get(f"/events/{seed.event.id}/sessions")
            assert "sc-live" in fragment.text
            assert 'status-ok">connected' in fragment.text
            assert "did not answer" not in fragment.text
            p.close()

            async def gone() -> bool:
                r = await web.get(f"/events/{seed.event.id}/sessions")
                return 'status-ok">connected' not in r.text and "sc-live" in r.text

            await eventually(gone)
    finally:
        await thread.stop()
