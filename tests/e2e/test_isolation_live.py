"""Two tenants' providers stream at once into one collector: each display keeps to its own.

Both use the same location name and the same chip number; only the ChronoTrack event id each
provider reports ties its session to a tenant. The collector and the web app run as separate
processes talking through Redis, as in production.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.db import catalog
from app.db.pool import open_pool
from app.domain.catalog import ParticipantIn
from app.domain.codes import new_display_code
from tests.e2e.conftest import Platform, start_platform, stop
from tests.e2e.test_read_to_screen import _collect_runner_events


@dataclass(frozen=True)
class Side:
    ct_event_id: str
    display_code: str
    runner: str


async def _side(db_url: str, slug: str, runner: str) -> Side:
    first, last = runner.split()
    pool = await open_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            tenant = await catalog.create_tenant(conn, slug, slug.title())
            event = await catalog.create_event(
                conn, tenant_id=tenant.id, name=f"{slug} race", ct_event_id=f"CT-{slug}"
            )
            await catalog.upsert_participants(
                conn, tenant.id, event.id, [ParticipantIn("1", "1187", first, last)]
            )
            display = await catalog.create_display(
                conn,
                tenant_id=tenant.id,
                event_id=event.id,
                code=new_display_code(),
                name="Finish",
                locations=["FINISH"],
            )
    finally:
        await pool.close()
    return Side(f"CT-{slug}", display.code, runner)


@pytest.fixture
def platform(db_url: str, redis_url: str, tmp_path: Path) -> Iterator[Platform]:
    platform, procs = start_platform(db_url, tmp_path, redis_url, ("collector", "web"))
    yield platform
    stop(procs)


def _provider(platform: Platform, capture: Path, ct_event_id: str, name: str) -> list[str]:
    return [
        sys.executable, "-m", "app.cli", "simulate", "--capture", str(capture),
        "--port", str(platform.collector_port), "--fast", "--event-id", ct_event_id,
        "--program", name,
    ]  # fmt: skip


async def test_two_tenants_streaming_at_once_never_see_each_others_reads(
    db_url: str, platform: Platform, tmp_path: Path
) -> None:
    a = await _side(db_url, "alpha-live", "Astrid Alvheim")
    b = await _side(db_url, "bravo-live", "Zebulon Quixote")
    # Same location, same chips; B also reads a chip A never does.
    shared = ["CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2",
              "CT01_33~2~FINISH~4242~08:22:01.00~1~0D4E5F~2"]  # fmt: skip
    (tmp_path / "a.txt").write_text("\r\n".join(shared) + "\r\n")
    (tmp_path / "b.txt").write_text(
        "\r\n".join([*shared, "CT01_33~3~FINISH~5555~08:22:30.00~1~0D4E5F~2"]) + "\r\n"
    )

    seen: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
    ready = {"a": asyncio.Event(), "b": asyncio.Event()}
    readers = {
        key: asyncio.create_task(
            _collect_runner_events(
                f"{platform.base_url}/d/{side.display_code}/stream",
                want,
                seen[key],
                ready[key],
            )
        )
        for key, side, want in (("a", a, 3), ("b", b, 3))
    }
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready.values())), 15)

    runs = [
        asyncio.to_thread(
            subprocess.run,
            _provider(platform, tmp_path / f"{key}.txt", side.ct_event_id, f"Client-{key}"),
            env=platform.env,
            check=True,
            timeout=60,
        )
        for key, side in (("a", a), ("b", b))
    ]
    await asyncio.gather(*runs)

    await asyncio.wait_for(readers["b"], 30)
    # A asked for one more event than its provider sends: it must not come, from B or anyone.
    done, _ = await asyncio.wait({readers["a"]}, timeout=3)
    assert not done, f"A's display got a third runner: {seen['a'][-1][1]}"
    readers["a"].cancel()
    await asyncio.gather(readers["a"], return_exceptions=True)

    a_html = "\n".join(data for _, data in seen["a"])
    b_html = "\n".join(data for _, data in seen["b"])
    assert len(seen["a"]) == 2, a_html
    assert "Astrid Alvheim" in a_html and "Chip 4242" in a_html
    assert "Zebulon" not in a_html and "5555" not in a_html
    assert "Zebulon Quixote" in b_html and "Chip 5555" in b_html
    assert "Astrid" not in b_html
