"""A CT01_33 line into the collector process comes out as an SSE fragment of the web process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.conftest import Platform, Seeded, simulate_lines

CAPTURE = [
    "CT01_33~1~START~1187~08:00:03.17~1~0A1B2C~4",
    "CT01_33~2~FINISH~1187~08:21:44.90~1~0D4E5F~2",
    "CT01_33~3~FINISH~1187~08:21:45.52~1~0D4E6A~8",
    "CT01_33~4~FINISH~9999~08:22:10.00~1~0D4E5F~1",
    "CT01_33~5~FINISH~2305~08:23:01.08~1~0D4E5F~1",
]


async def _collect_runner_events(
    url: str, want: int, out: list[tuple[str, str]], ready: asyncio.Event
) -> None:
    """Read `runner` events (id, data) from the stream until `want` have arrived."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client,
        client.stream("GET", url, headers={"Accept": "text/event-stream"}) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        ready.set()
        event, ident, data = "", "", []
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("id:"):
                ident = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "":
                if event == "runner" and ident:
                    out.append((ident, "\n".join(data)))
                    if len(out) >= want:
                        return
                event, ident, data = "", "", []


async def test_read_line_reaches_a_screen_through_redis(
    platform_redis: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    url = f"{platform_redis.base_url}/d/{seeded.display_code}/stream"
    events: list[tuple[str, str]] = []
    ready = asyncio.Event()
    reader = asyncio.create_task(_collect_runner_events(url, 3, events, ready))
    await asyncio.wait_for(ready.wait(), 15)

    await simulate_lines(platform_redis, tmp_path, CAPTURE)
    await asyncio.wait_for(reader, 30)

    html = [data for _, data in events]
    assert "Ann Lee" in html[0]
    # An unknown chip shows as its chip code: no bib, no name.
    assert "Chip 9999" in html[1] and "Bib" not in html[1]
    assert "Ann" not in html[1] and "Omar" not in html[1]
    assert "Omar Khan" in html[2]  # chip '002305' registered, read as '2305'
    ids = [int(i.rsplit(".", 1)[1]) for i, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == 3

    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{platform_redis.status_port}/status")
    status = resp.json()
    assert status["total_reads"] == len(CAPTURE)
    assert status["database_connected"] is True
