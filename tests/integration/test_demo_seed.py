"""The demo `make run` seeds: its points have kinds, so its displays place runners once."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.services.demo import seed_demo


async def test_the_demo_event_knows_its_start_splits_and_finishes(
    pool: AsyncConnectionPool,
) -> None:
    points = ["FINISH1", "START1", "19K", "mini-12250FINISH4", "9K", "START2"]
    info = await seed_demo(pool, ["1187", "2305", "9573"], iter(points))
    async with pool.connection() as conn:
        tenant = await catalog.get_tenant_by_slug(conn, "demo-timing")
        assert tenant is not None
        event = await catalog.get_event(conn, tenant.id, info.event_id)
        locations = await catalog.list_event_locations(conn, tenant.id, info.event_id)
    assert event is not None and event.min_finish_s == 600
    assert [(loc.name, loc.kind) for loc in locations] == [
        ("START1", "start"),
        ("START2", "start"),
        ("19K", "split"),
        ("9K", "split"),
        ("FINISH1", "finish"),
        ("mini-12250FINISH4", "finish"),
    ]
    # The generator of points was read for the locations and for the finish display alike.
    finish = ["FINISH1", "mini-12250FINISH4"]
    assert [d.locations for d in info.displays] == [finish, [], finish]
    # The third is drawn by a template the builder can open.
    assert [d.template_id is not None for d in info.displays] == [False, False, True]
    # A second start finds the demo as it is.
    again = await seed_demo(pool, ["1187"], points)
    assert again.event_id == info.event_id
    assert [d.code for d in again.displays] == [d.code for d in info.displays]
