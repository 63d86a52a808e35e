"""Two web workers behind one port (SO_REUSEPORT) and Redis: every screen of a display gets
the same events, in order, none missing and none twice, whichever worker it reached, across a
forced reconnect of half the screens and a restart of one worker."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.codes import new_display_code
from tests.e2e.conftest import CT_EVENT_ID, Platform, Seeded, start_platform, stop

pytestmark = pytest.mark.timeout(180)

SCREENS_PER_DISPLAY = 12
RUNNERS = 60  # per timing point, two points: well inside a worker's ring of recent frames
LIVE_EVENTS = ("runner", "also", "places")


@dataclass
class Screen:
    """An EventSource as a browser runs it: reconnects after a drop, sending Last-Event-ID."""

    url: str
    # (id, event name, data) of every live event, in arrival order.
    events: list[tuple[str, str, str]] = field(default_factory=list)
    connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _response: httpx.Response | None = None
    _stop: bool = False

    async def run(self) -> None:
        last = ""
        while not self._stop:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with (
                    httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client,
                    client.stream("GET", self.url, headers=headers) as resp,
                ):
                    assert resp.status_code == 200
                    self._response = resp
                    self.connections += 1
                    event, ident, data = "", "", []
                    async for line in resp.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("id:"):
                            ident = line[3:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                        elif line == "":
                            if ident:
                                last = ident
                            if event == "board":
                                self.connected.set()
                            elif event in LIVE_EVENTS and ident:
                                self.events.append((ident, event, "\n".join(data)))
                            event, ident, data = "", "", []
            except (httpx.HTTPError, httpx.StreamError, RuntimeError):
                pass
            finally:
                self._response = None
            await asyncio.sleep(0.3)  # the page's `retry: 2000`, shortened for the test

    async def drop(self) -> None:
        """Cut the connection as a flaky venue Wi-Fi would; run() reconnects."""
        if self._response is not None:
            with contextlib.suppress(Exception):
                await self._response.aclose()

    def numbers(self) -> list[int]:
        return [int(ident.rsplit(".", 1)[1]) for ident, _, _ in self.events]


@pytest.fixture
def two_workers(
    db_url: str, redis_url: str, tmp_path: Path, seeded: Seeded
) -> Iterator[tuple[Platform, list[subprocess.Popen[bytes]]]]:
    platform, procs = start_platform(db_url, tmp_path, redis_url, ("collector", "web", "web"))
    yield platform, procs
    stop(procs)


def _capture(path: Path, location: str, first_chip: int) -> Path:
    """RUNNERS chips nobody registered, 0.4 s apart, each read twice (a reader's repeat)."""
    lines = []
    seq = 0
    for i in range(RUNNERS):
        stamp = f"08:{30 + i // 150:02d}:{(i * 0.4) % 60:04.1f}"
        for _ in range(2):
            seq += 1
            lines.append(f"CT01_33~{seq}~{location}~{first_chip + i}~{stamp}~1~0D4E5F~1")
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


async def test_every_screen_of_every_display_gets_the_same_events_through_drops_and_a_restart(
    two_workers: tuple[Platform, list[subprocess.Popen[bytes]]],
    seeded: Seeded,
    pool: AsyncConnectionPool,
    tmp_path: Path,
) -> None:
    platform, procs = two_workers
    codes = {"finish": seeded.display_code}  # the seeded display shows FINISH
    async with pool.connection() as conn:
        for name, locations in (("both", []), ("finish-b", ["FINISH-B"])):
            display = await catalog.create_display(
                conn,
                tenant_id=seeded.tenant_id,
                event_id=seeded.event_id,
                code=new_display_code(),
                name=name,
                locations=locations,
            )
            codes[name] = display.code
    screens = {
        name: [Screen(f"{platform.base_url}/d/{code}/stream") for _ in range(SCREENS_PER_DISPLAY)]
        for name, code in codes.items()
    }
    everyone = [s for group in screens.values() for s in group]
    tasks = [asyncio.create_task(s.run()) for s in everyone]
    await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in everyone)), 30)

    # Two providers (two timing sessions of the event) at once, as fast as they can send.
    command = [
        sys.executable, "-m", "app.cli", "simulate", "--fast", "--event-id", CT_EVENT_ID,
        "--port", str(platform.collector_port),
        "--capture", str(_capture(tmp_path / "a.txt", "FINISH", 5000)),
        "--capture", str(_capture(tmp_path / "b.txt", "FINISH-B", 6000)),
    ]  # fmt: skip
    provider = asyncio.create_task(
        asyncio.to_thread(subprocess.run, command, env=platform.env, check=True, timeout=90)
    )
    lead = screens["both"][0]
    await _until(lambda: len(lead.events) >= 20)
    # Half the screens lose their connection mid-race...
    await asyncio.gather(*(s.drop() for s in everyone[::2]))
    # ...and one worker goes away, and comes back as systemd restarts it.
    procs[1].terminate()
    await asyncio.to_thread(procs[1].wait, 20)
    log = (tmp_path / "logs" / "web-restarted.log").open("wb")
    command = [sys.executable, "-m", "app.cli", "web"]
    procs.append(
        await asyncio.to_thread(subprocess.Popen, command, env=platform.env, stdout=log, stderr=log)
    )
    await provider

    # Every runner of a display's points reaches it, once: wait until the sequences settle.
    expected = {"both": 2 * RUNNERS, "finish": RUNNERS, "finish-b": RUNNERS}

    def settled() -> bool:
        return all(
            sum(1 for _, kind, _ in s.events if kind == "runner") >= expected[name]
            for name, group in screens.items()
            for s in group
        )

    await _until(settled, within=60)
    await asyncio.sleep(1.0)  # nothing more may come
    for s in everyone:
        s._stop = True
        await s.drop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    for name, group in screens.items():
        reference = group[0].events
        numbers = group[0].numbers()
        # None missing, none twice, in order: the ids count 1, 2, 3… without a hole.
        assert numbers == list(range(1, len(numbers) + 1)), name
        assert sum(1 for _, kind, _ in reference if kind == "runner") == expected[name]
        for screen in group[1:]:
            # The same events, the same ids, the same bytes, whichever worker served them.
            assert screen.events == reference, name
    reconnected = defaultdict(int)
    for s in everyone:
        reconnected[s.connections > 1] += 1
    # The dropped half, and the restarted worker's screens, came back.
    assert reconnected[True] >= len(everyone) // 2


async def _until(check: Callable[[], bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the screens")
        await asyncio.sleep(0.05)
