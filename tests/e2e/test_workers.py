"""Two web workers behind one port (SO_REUSEPORT) and Redis: every screen gets every runner
whichever worker it reached, and a worker going away costs its screens only a reconnect."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Platform, Seeded, simulate_lines, start_platform, stop

pytestmark = pytest.mark.timeout(120)

SCREENS = 20
FIRST = [
    "CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2",
    "CT01_33~2~FINISH~9999~08:22:10.00~1~0D4E5F~1",
]
SECOND = [
    "CT01_33~3~FINISH~2305~08:23:01.08~1~0D4E5F~1",
    "CT01_33~4~FINISH~4242~08:23:30.00~1~0D4E5F~1",
]


@dataclass
class Screen:
    """An EventSource as a browser runs it: reconnects after a drop, sending Last-Event-ID."""

    url: str
    events: list[tuple[str, str]] = field(default_factory=list)
    connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, want: int) -> None:
        last = ""
        while len(self.events) < want:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with (
                    httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client,
                    client.stream("GET", self.url, headers=headers) as resp,
                ):
                    assert resp.status_code == 200
                    self.connections += 1
                    self.connected.set()
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
                                self.events.append((ident, "\n".join(data)))
                                last = ident
                                if len(self.events) >= want:
                                    return
                            event, ident, data = "", "", []
            except (httpx.HTTPError, httpx.StreamError):
                pass
            await asyncio.sleep(0.5)  # the page's `retry: 2000`, shortened for the test


@pytest.fixture
def two_workers(
    db_url: str, redis_url: str, tmp_path: Path, seeded: Seeded
) -> Iterator[tuple[Platform, list[subprocess.Popen[bytes]]]]:
    platform, procs = start_platform(db_url, tmp_path, redis_url, ("collector", "web", "web"))
    yield platform, procs
    stop(procs)


async def test_every_screen_gets_every_runner_across_a_worker_restart(
    two_workers: tuple[Platform, list[subprocess.Popen[bytes]]],
    seeded: Seeded,
    tmp_path: Path,
) -> None:
    platform, procs = two_workers
    url = f"{platform.base_url}/d/{seeded.display_code}/stream"
    screens = [Screen(url) for _ in range(SCREENS)]
    want = len(FIRST) + len(SECOND)
    tasks = [asyncio.create_task(s.run(want)) for s in screens]
    await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in screens)), 30)

    await simulate_lines(platform, tmp_path, FIRST)
    await _until(lambda: all(len(s.events) >= len(FIRST) for s in screens))

    # One worker goes away; its screens reconnect to the other, which keeps the port open.
    procs[1].terminate()
    await asyncio.to_thread(procs[1].wait, 20)
    await simulate_lines(platform, tmp_path, SECOND)
    # And comes back, as systemd restarts it.
    log = (tmp_path / "logs" / "web-restarted.log").open("wb")
    command = [sys.executable, "-m", "app.cli", "web"]
    procs.append(
        await asyncio.to_thread(subprocess.Popen, command, env=platform.env, stdout=log, stderr=log)
    )
    await asyncio.wait_for(asyncio.gather(*tasks), 60)

    reference = screens[0].events
    assert len(reference) == want
    ids = [int(i.rsplit(".", 1)[1]) for i, _ in reference]
    assert ids == list(range(1, want + 1))
    for screen in screens:
        # Same events, same ids, same bytes, in the same order: no gap, no repeat.
        assert screen.events == reference
    # The kernel spread the screens over both workers: some had to reconnect.
    assert any(s.connections > 1 for s in screens)
    assert any(s.connections == 1 for s in screens)


async def _until(check: Callable[[], bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the screens")
        await asyncio.sleep(0.05)
