"""The timing-operations page against a real Collector, real CTP01 sockets and PostgreSQL."""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.db.pool import open_pool
from app.domain.catalog import ParticipantIn
from app.pubsub import MemoryBus
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from tests.conftest import free_port

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from collector.server import Collector
from collector.session import Timeouts
from tests.integration.test_collector import RawProvider, collector_settings

EMAIL = "olga@harbor-timing.test"
PASSWORD = "correct horse battery staple"
ZONE = "Europe/Oslo"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
_UNREACHABLE = re.compile(r"Collector unreachable — last checked \d\d:\d\d:\d\d")


@dataclass(frozen=True)
class Seed:
    tenant_id: int
    event_id: int
    other_event_id: int
    foreign_event_id: int


@pytest.fixture
async def seed(pool: AsyncConnectionPool) -> Seed:
    """Harbor has two events (OPS-A, OPS-B); Rival has one (OPS-R) and its own point."""
    async with pool.connection() as conn:
        harbor = await catalog.create_tenant(conn, "harbor-timing", "Harbor Timing")
        await catalog.create_user(
            conn,
            tenant_id=harbor.id,
            email=EMAIL,
            password_hash=hash_password(PASSWORD),
            role="owner",
            display_name="Olga Ops",
        )
        event = await catalog.create_event(
            conn, tenant_id=harbor.id, name="Harbor 10K", time_zone=ZONE, ct_event_id="OPS-A"
        )
        await catalog.upsert_participants(
            conn, harbor.id, event.id, [ParticipantIn("42", "1187", "Ann", "Lee", "F", 34)]
        )
        other = await catalog.create_event(
            conn, tenant_id=harbor.id, name="Harbor Kids Run", ct_event_id="OPS-B"
        )
        rival = await catalog.create_tenant(conn, "rival-timing", "Rival Timing")
        foreign = await catalog.create_event(
            conn, tenant_id=rival.id, name="Secret Marathon", ct_event_id="OPS-R"
        )
    return Seed(harbor.id, event.id, other.id, foreign.id)


class Point(RawProvider):
    """A CTP01 provider over a real socket that reports a ChronoTrack event id of our choice."""

    seqs: dict[str, int]

    @classmethod
    async def join(
        cls, port: int, identity: str, ct_event_id: str, locations: tuple[str, ...] = ("FINISH",)
    ) -> Point:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        p = cls(reader, writer)
        p.seqs = {}
        p.send("SimpleClient~0.6.0~CTP01")
        header = await p.line()
        for _ in range(int(header.split("~")[2])):
            await p.line()
        answers = {
            "getconnectionid": f"ack~getconnectionid~{identity}",
            "geteventinfo": f"ack~geteventinfo~Race {ct_event_id}~{ct_event_id}~",
            "getlocations": "ack~getlocations~" + "~".join(locations),
        }
        while not (command := await p.line()).startswith("start"):
            p.send(answers[command])
        return p

    def skip(self, count: int, location: str = "FINISH") -> None:
        """Sequence numbers the decoder never sends."""
        self.seqs[location] = self.seqs.get(location, 0) + count

    def reads(self, *tags: str, location: str = "FINISH", at: datetime | None = None) -> None:
        """Reads with the location's next sequence numbers, timed now (UTC, the collector's)."""
        stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
        lines = []
        for tag in tags:
            self.skip(1, location)
            lines.append(f"CT01_33~{self.seqs[location]}~{location}~{tag}~{stamp}~1~0D4E5F~2")
        self.send(*lines)


class CollectorThread:
    """A real Collector on its own thread and event loop, with its own pool.

    Litestar's test client runs each request to completion on a portal thread while the
    test's loop waits, so a collector on the test's loop could not answer the app's status
    request; on its own loop it answers like the separate process it is in production.
    """

    def __init__(self, settings: Settings, db_url: str) -> None:
        self._settings = settings
        self._db_url = db_url
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.collector: Collector | None = None
        self._thread = threading.Thread(target=self._run, name="test-collector", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        pool = await open_pool(self._db_url, min_size=1, max_size=3)
        bus = MemoryBus()
        collector = Collector(self._settings, pool, bus, timeouts=Timeouts(acks=2.0))
        try:
            await collector.start()
            self._loop, self._stop, self.collector = (
                asyncio.get_running_loop(),
                asyncio.Event(),
                collector,
            )
            self._ready.set()
            await self._stop.wait()
        finally:
            await collector.stop()
            await bus.close()
            await pool.close()

    async def start(self) -> Collector:
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 30)
        if self._error is not None or self.collector is None:
            raise AssertionError(f"the collector did not start: {self._error!r}")
        return self.collector

    async def points(self) -> list[dict[str, Any]]:
        """The collector's own view of its points, read on its loop."""
        assert self._loop is not None and self.collector is not None
        collector = self.collector

        async def snapshot() -> list[dict[str, Any]]:
            points: list[dict[str, Any]] = collector.stats()["points"]
            return points

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(snapshot(), self._loop))

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 30)


@dataclass
class Rig:
    collector: CollectorThread
    tcp_port: int
    client: Client


@asynccontextmanager
async def rig(
    db_url: str,
    tmp_path: Path,
    *,
    silent_after_s: int = 30,
    status_url: str | None = None,
) -> AsyncIterator[Rig]:
    """A running collector, and the app reading its status port, logged in as Harbor."""
    thread = CollectorThread(collector_settings(tmp_path, silent_after_s=silent_after_s), db_url)
    try:
        collector = await thread.start()
        settings = Settings(
            database_url=db_url,
            secret_key="test-secret-" + "x" * 40,
            collector_port=collector.tcp_port,
            silent_after_s=silent_after_s,
            collector_status_url=status_url or f"http://127.0.0.1:{collector.status_port}/status",
        )
        async with AsyncTestClient(
            app=create_app(settings), base_url="https://testserver.local"
        ) as client:
            await _login(client)
            yield Rig(thread, collector.tcp_port, client)
    finally:
        await thread.stop()


async def _login(client: Client) -> None:
    page = await client.get("/login")
    match = _CSRF.search(page.text)
    assert match, "no CSRF field on /login"
    r = await client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": match.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


async def _fragment(client: Client, event_id: int) -> str:
    r = await client.get(f"/events/{event_id}/operations/points", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    assert "<html" not in r.text
    return r.text


async def until(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition"
) -> Any:
    """Polls until check() returns something truthy; fails with the last value after `within`."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s; last: {value!r}")
        await asyncio.sleep(0.1)


def point_block(fragment: str, identity: str) -> str | None:
    """The <tbody> of one point, or None when the fragment does not show it."""
    match = re.search(
        rf'<tbody[^>]*data-point="{re.escape(identity)}"[^>]*>.*?</tbody>', fragment, re.S
    )
    return match.group(0) if match else None


def state_of(block: str) -> str:
    match = re.search(r'data-state="([a-z]+)"', block)
    assert match, block
    return match.group(1)


def cells(block: str, location: str) -> list[str]:
    """The text of a location row's cells, tags stripped."""
    row = re.search(
        rf'<tr class="ops-location[^"]*" data-location="{re.escape(location)}">(.*?)</tr>',
        block,
        re.S,
    )
    assert row, f"no row for {location}"
    raw = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in raw]


async def test_page_and_fragment_show_this_events_points_only(
    db_url: str, tmp_path: Path, seed: Seed
) -> None:
    async with rig(db_url, tmp_path) as r:
        port = r.tcp_port
        finish = await Point.join(port, "harbor-finish", "OPS-A")
        ten_k = await Point.join(port, "harbor-10k", "OPS-A", ("10K",))
        kids = await Point.join(port, "harbor-kids", "OPS-B")
        rival = await Point.join(port, "rival-finish", "OPS-R")
        finish.reads("1187", "9999", "9999")
        # A decoder whose clock is days off, and that skipped sequence numbers 3 and 4.
        ten_k.reads("1187", "2305", location="10K", at=datetime(2020, 1, 1, 8, 0, tzinfo=UTC))
        ten_k.skip(2, "10K")
        ten_k.reads("2306", location="10K", at=datetime(2020, 1, 1, 8, 0, 5, tzinfo=UTC))
        kids.reads("77")
        rival.reads("1", "2")
        for p in (finish, ten_k, kids, rival):
            await p.round_trip()

        event_page = await r.client.get(f"/events/{seed.event_id}")
        assert f'href="/events/{seed.event_id}/operations"' in event_page.text
        page = await r.client.get(f"/events/{seed.event_id}/operations")
        assert page.status_code == 200
        assert "Harbor 10K" in page.text and "Timing operations" in page.text
        assert f'hx-get="/events/{seed.event_id}/operations/points"' in page.text
        assert 'hx-trigger="every 2s"' in page.text
        # First paint already holds the table; no inline script was added for it.
        assert 'data-point="harbor-finish"' in page.text
        assert "<script>" not in page.text and "hx-on" not in page.text

        async def chips_loaded() -> str | None:
            text = await _fragment(r.client, seed.event_id)
            block = point_block(text, "harbor-finish")
            # The collector loads the event's chip codes a moment after a point joins it.
            return text if block and cells(block, "FINISH")[6] == "1" else None

        text = await until(chips_loaded, what="unknown chips counted")
        finish_block = point_block(text, "harbor-finish")
        assert finish_block is not None
        assert state_of(finish_block) == "ok"
        assert "is-alert" not in finish_block
        assert "connected since" in finish_block
        name, status, last, per_min, reads, tags, unknown, gaps = cells(finish_block, "FINISH")
        assert (name, status, per_min, reads, tags, unknown, gaps) == (
            "FINISH",
            "reading",
            "3",
            "3",
            "2",
            "1",
            "none",
        )
        assert re.match(r"\d+ s ago", last), last
        # The connection time in the event's zone, as the collector reported it in UTC.
        (point,) = [p for p in await r.collector.points() if p["identity"] == "harbor-finish"]
        since = datetime.fromisoformat(point["since"]).astimezone(ZoneInfo(ZONE))
        assert f"connected since {since:%H:%M:%S}" in finish_block

        ten_k_block = point_block(text, "harbor-10k")
        assert ten_k_block is not None
        assert "skew-bad" in ten_k_block and "decoder clock is off" in ten_k_block
        assert re.search(r"clock skew \d+ days behind", ten_k_block), ten_k_block
        assert "3 reads far off" in ten_k_block
        row = cells(ten_k_block, "10K")
        assert row[4] == "3"
        assert row[7] == "1 gap, 2 reads missing seq 3\u20134"

        # Other events' points, the tenant's own or another tenant's, are never shown.
        for absent in ("harbor-kids", "rival-finish", "OPS-R", "Secret Marathon"):
            assert absent not in text
            assert absent not in page.text
        other = await _fragment(r.client, seed.other_event_id)
        assert point_block(other, "harbor-kids") is not None
        assert "harbor-finish" not in other and "rival-finish" not in other

        for p in (finish, ten_k, kids, rival):
            p.close()


async def test_a_foreign_or_unknown_event_is_404_without_its_data(
    db_url: str, tmp_path: Path, seed: Seed
) -> None:
    async with rig(db_url, tmp_path) as r:
        rival = await Point.join(r.tcp_port, "rival-finish", "OPS-R")
        rival.reads("1")
        await rival.round_trip()
        for event_id in (seed.foreign_event_id, 987654):
            for path in (f"/events/{event_id}/operations", f"/events/{event_id}/operations/points"):
                for headers in ({}, {"HX-Request": "true"}):
                    got = await r.client.get(path, headers=headers)
                    assert got.status_code == 404, path
                    for secret in ("rival-finish", "Secret Marathon", "OPS-R"):
                        assert secret not in got.text
        rival.close()
        r.client.cookies.clear()
        out = await r.client.get(f"/events/{seed.event_id}/operations", follow_redirects=False)
        assert out.status_code == 303
        assert out.headers["location"] == f"/login?next=/events/{seed.event_id}/operations"


async def test_a_point_that_stops_sending_turns_red_then_disconnected(
    db_url: str, tmp_path: Path, seed: Seed
) -> None:
    async with rig(db_url, tmp_path, silent_after_s=1) as r:
        finish = await Point.join(r.tcp_port, "harbor-finish", "OPS-A")
        stop = asyncio.Event()

        async def keep_reading() -> None:
            while not stop.is_set():
                finish.reads("1187")
                await asyncio.sleep(0.2)

        feeder = asyncio.create_task(keep_reading())

        async def state() -> tuple[str, str] | None:
            block = point_block(await _fragment(r.client, seed.event_id), "harbor-finish")
            return None if block is None else (state_of(block), block)

        async def ok() -> bool:
            got = await state()
            return got is not None and got[0] == "ok" and "is-alert" not in got[1]

        try:
            await until(ok, what="point ok while reading")
        finally:
            stop.set()
            await feeder
        await finish.round_trip()

        async def silent() -> str | None:
            got = await state()
            # The point and its location pass the threshold in the same tenth of a second.
            if got is None or got[0] != "silent" or cells(got[1], "FINISH")[1] != "silent":
                return None
            return got[1]

        # 1 s of silence plus one 2 s poll, with room for a loaded machine.
        block = await until(silent, within=8.0, what="point silent")
        assert 'class="ops-point is-alert"' in block
        assert '<span class="status status-silent">silent</span>' in block

        finish.close()

        async def disconnected() -> str | None:
            got = await state()
            return got[1] if got is not None and got[0] == "disconnected" else None

        block = await until(disconnected, what="point disconnected")
        assert 'class="ops-point is-alert"' in block
        assert '<span class="status status-disconnected">disconnected</span>' in block
        assert "disconnected since" in block


async def test_no_point_yet_explains_how_a_provider_connects(
    db_url: str, tmp_path: Path, seed: Seed
) -> None:
    async with rig(db_url, tmp_path) as r:
        text = await _fragment(r.client, seed.event_id)
        assert "No timing point feeds this event yet" in text
        assert f'port <strong class="mono">{r.tcp_port}</strong>' in text
        assert "127.0.0.1" in text and "OPS-A" in text
        assert "COLLECTOR_HOST=0.0.0.0" in text
        assert "Collector unreachable" not in text


@contextmanager
def fake_collector(answer: tuple[str, bytes] | None) -> Iterator[int]:
    """A loopback HTTP server on its own thread: (content type, body), or None for no answer.

    On a thread, not the test's loop, which waits while the test client handles a request.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if answer is None:
                time.sleep(3)
                return
            content_type, body = answer
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("closed-port", "connection refused"),
        ("not-json", "its answer was not JSON"),
        ("wrong-shape", "no list of points"),
        ("bad-point-of-this-event", "state is not text"),
        ("no-answer", "no answer within 1.5 s"),
    ],
)
async def test_collector_unreachable_or_garbage_gives_a_plain_message(
    db_url: str, tmp_path: Path, seed: Seed, kind: str, reason: str
) -> None:
    # A point of this very event that is not what the page reads: garbage, not a 500.
    bad_point = {"tenant_id": seed.tenant_id, "event_id": seed.event_id, "state": 7}
    answers: dict[str, tuple[str, bytes] | None] = {
        "not-json": ("text/html", b"<html>not the collector</html>"),
        "wrong-shape": ("application/json", b'{"points": "nope"}'),
        "bad-point-of-this-event": (
            "application/json",
            json.dumps({"points": [bad_point]}).encode(),
        ),
        "no-answer": None,
    }
    with ExitStack() as stack:
        if kind == "closed-port":
            url = f"http://127.0.0.1:{free_port()}/status"
        else:
            port = stack.enter_context(fake_collector(answers[kind]))
            url = f"http://127.0.0.1:{port}/status"
        async with rig(db_url, tmp_path, status_url=url) as r:
            for path in (
                f"/events/{seed.event_id}/operations",
                f"/events/{seed.event_id}/operations/points",
            ):
                got = await r.client.get(path, headers={"HX-Request": "true"})
                assert got.status_code == 200, got.text
                assert _UNREACHABLE.search(got.text), got.text
                assert reason in got.text
                assert "Traceback" not in got.text


def _point_json(identity: str, tenant_id: int, event_id: int) -> dict[str, Any]:
    """A point as the collector's /status reports it."""
    return {
        "identity": identity,
        "session_id": 1,
        "session": "Session_20260517_080000",
        "tenant_id": tenant_id,
        "event_id": event_id,
        "program": "SimpleClient",
        "version": "0.6.0",
        "state": "ok",
        "connected": True,
        "connections": 1,
        "peers": ["127.0.0.1:50000"],
        "since": "2026-05-17T06:00:00+00:00",
        "close_reason": None,
        "clock_skew_s": 0.2,
        "skew_flagged": False,
        "skewed_reads": 0,
        "rejected": 0,
        "rejected_by_reason": {},
        "locations": [
            {
                "name": "FINISH",
                "reads": 12,
                "last_read_at": "2026-05-17T06:10:00+00:00",
                "last_read_age_s": 1.5,
                "silent": False,
                "reads_per_minute": 12,
                "distinct_tags": 10,
                "unknown_chips": 0,
                "gaps": 0,
                "missing_reads": 0,
                "gap_ranges": [],
                "last_seq": 12,
            }
        ],
    }


async def test_a_point_naming_this_event_under_another_tenant_is_not_shown(
    db_url: str, tmp_path: Path, seed: Seed
) -> None:
    # The collector never reports such a point; the page holds the line all the same.
    status = {
        "points": [
            _point_json("harbor-finish", seed.tenant_id, seed.event_id),
            _point_json("intruder", seed.tenant_id + 1000, seed.event_id),
        ]
    }
    with fake_collector(("application/json", json.dumps(status).encode())) as port:
        url = f"http://127.0.0.1:{port}/status"
        async with rig(db_url, tmp_path, status_url=url) as r:
            text = await _fragment(r.client, seed.event_id)
    block = point_block(text, "harbor-finish")
    assert block is not None and state_of(block) == "ok"
    # Shown in the event's zone: 06:00 UTC is 08:00 in Oslo in May.
    assert "connected since 08:00:00" in block or "connected since 2026-05-17 08:00:00" in block
    assert "intruder" not in text
