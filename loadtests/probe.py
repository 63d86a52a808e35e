"""Probe screens: one SSE screen per display in a process of its own (asyncio, no Locust).

Under a burst the Locust process, which reads 1,000 streams, saturates a core and its own lag
counts in its latencies; the probe reads only a few streams, so its latencies are the
platform's. It writes what it saw in the same files as the Locust screens (kind "probe"), and
loadtests/report.py reports it as a row of its own.

    python loadtests/probe.py <run dir>    (run.py starts it next to Locust, and stops it)
"""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fragments import Runners, chip_reader, no_full_collections  # noqa: E402

from app.domain.reads import normalize_tag  # noqa: E402

FIRST_ID = 1_000_000  # screen ids of their own: Locust's count from 1


class ProbeScreen:
    def __init__(self, screen_id: int, display: dict[str, Any], base_url: str) -> None:
        self.id = screen_id
        self.code: str = display["code"]
        self.locations: list[str] = display["locations"]
        self.url = f"{base_url}/d/{self.code}/stream"
        self.started = 0.0
        self.frames = 0
        self.reconnects = 0
        self.last_id = ""
        self.seen: set[tuple[str, str]] = set()

    async def run(self, runners: Runners, out: Any) -> None:
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            try:
                async with (
                    httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client,
                    client.stream("GET", self.url, headers=headers) as resp,
                ):
                    self.started = self.started or time.time()
                    ident, data = "", []
                    async for line in resp.aiter_lines():
                        if line.startswith("id:"):
                            ident = line[3:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                        elif line == "" and data:
                            recv = time.time()
                            self.frames += 1
                            self.last_id = ident or self.last_id
                            number = ident.rpartition(".")[2]
                            for key in runners("\n".join(data).encode()):
                                if key not in self.seen:
                                    self.seen.add(key)
                                    out.write(
                                        f"{self.id},probe,{self.code},{key[0]},{key[1]},"
                                        f"{recv:.6f},{number or 0}\n"
                                    )
                            ident, data = "", []
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            await asyncio.sleep(2.0)

    def summary(self, ended: float) -> dict[str, Any]:
        return {
            "screen": self.id,
            "kind": "probe",
            "display": self.code,
            "locations": self.locations,
            "started": self.started,
            "ended": ended,
            "frames": self.frames,
            "duplicates": 0,
            "out_of_order": 0,
            "reconnects": max(0, self.reconnects),
            "errors": 0,
        }


async def main(out_dir: Path) -> None:
    scenario = json.loads((out_dir / "scenario.json").read_text())
    bib_to_chip = {bib: chip for chip, bib in scenario["known"].items()}
    tag_mode = scenario["tag_mode"]
    runners = Runners(chip_reader(bib_to_chip, lambda tag: normalize_tag(tag, tag_mode)))
    screens = [
        ProbeScreen(FIRST_ID + i, display, scenario["base_url"])
        for i, display in enumerate(scenario["displays"])
    ]
    no_full_collections()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with gzip.open(out_dir / "seen-probe.csv.gz", "wt", compresslevel=1) as out:
        out.write("screen,kind,display,location,chip,recv_time,event_id\n")
        tasks = [asyncio.create_task(s.run(runners, out)) for s in screens]
        await stop.wait()
        ended = time.time()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    with (out_dir / "screens-probe.jsonl").open("w") as f:
        for s in screens:
            f.write(json.dumps(s.summary(ended)) + "\n")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
