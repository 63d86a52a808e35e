"""/admin/sessions: sessions no rule claimed, seen and assigned by platform admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from app.domain.reads import event_channel, session_channel
from app.pubsub import MemoryBus
from app.settings import Settings
from app.web.factory import create_app
from tests.integration.tenancy import Client, Provider, login, seed_platform_admin, seed_tenant
from tests.integration.test_collector import eventually, scalar
from tests.integration.test_session_rules import Rig, _settings, _true, listening

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from collector.session import Timeouts

pytestmark = pytest.mark.timeout(90)


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


@pytest.fixture
async def web(db_url: str) -> AsyncIterator[Client]:
    settings = Settings(database_url=db_url, secret_key="test-secret-" + "x" * 40)
    async with Client(app=create_app(settings), base_url="https://testserver.local") as c:
        yield c


async def test_an_unmatched_session_is_for_platform_admins_and_assigning_it_moves_its_reads(
    rig: Rig, web: Client, pool: AsyncConnectionPool
) -> None:
    tenant = await seed_tenant(pool, "harbor-timing", "Harbor 10K", ct_event_id="CT-1")
    admin = await seed_platform_admin(pool)
    p = await Provider.connect(rig.collector.tcp_port, connection_id="stray-laptop",
                               ct_event_id="UNKNOWN-EV")  # fmt: skip
    session_id = int(await scalar(pool, "SELECT id FROM timing_sessions"))
    assert await scalar(pool, "SELECT tenant_id FROM timing_sessions") is None

    # A tenant sees neither the session on its event nor the admin page.
    token = await login(web, tenant.email)
    assert "stray-laptop" not in (await web.get(f"/events/{tenant.event.id}")).text
    assert (await web.get("/admin/sessions")).status_code == 404
    refused = await web.post(
        "/admin/sessions/assign",
        data={"_csrf_token": token, "session_id": session_id, "event_id": tenant.event.id},
    )
    assert refused.status_code == 404
    assert await scalar(pool, "SELECT tenant_id FROM timing_sessions") is None
    await web.post("/logout", data={"_csrf_token": token})
    web.cookies.clear()

    token = await login(web, admin)
    async with listening(
        rig.bus, event_channel(tenant.event.id), session_channel(session_id)
    ) as heard:
        p.read(1, tag="11")

        async def shown() -> bool:
            page = await web.get("/admin/sessions")
            return page.status_code == 200 and "stray-laptop" in page.text and ">1<" in page.text

        await eventually(shown)
        await eventually(lambda: _true(heard.tags_on(session_channel(session_id)) == {"11"}))
        bad = await web.post(
            "/admin/sessions/assign",
            data={"_csrf_token": token, "session_id": session_id, "event_id": 999_999},
        )
        assert bad.status_code == 400
        done = await web.post(
            "/admin/sessions/assign",
            data={"_csrf_token": token, "session_id": session_id, "event_id": tenant.event.id},
        )
        assert done.status_code == 200, done.text
        assert "now feeds Harbor 10K" in done.text
        assert "stray-laptop" not in done.text  # claimed: off the unclaimed list

        async def followed() -> bool:
            stats = rig.collector.stats()["providers"]
            return [s["event_id"] for s in stats] == [tenant.event.id]

        await eventually(followed)
        p.read(2, tag="22")
        await eventually(lambda: _true(heard.tags_on(event_channel(tenant.event.id)) == {"22"}))
    p.close()
    # Claimed once, it cannot be assigned again from the admin page.
    again = await web.post(
        "/admin/sessions/assign",
        data={"_csrf_token": token, "session_id": session_id, "event_id": tenant.event.id},
    )
    assert again.status_code == 400
    assert await scalar(pool, "SELECT tenant_id FROM timing_sessions") == tenant.tenant_id
    actions = await scalar(
        pool, "SELECT count(*) FROM audit_log WHERE action = 'session.assign' AND tenant_id = %s",
        tenant.tenant_id,
    )  # fmt: skip
    assert actions == 1

    # And now the tenant sees it on its event.
    web.cookies.clear()
    await login(web, tenant.email)
    assert "stray-laptop" in (await web.get(f"/events/{tenant.event.id}/sessions")).text
