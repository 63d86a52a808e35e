"""The live path's web end: reads published on the bus reach SSE screens as rendered runners."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import Display, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.reads import NewRead, ReadBatch, StoredRead, event_channel
from app.pubsub import MemoryBus
from app.services.live import Disconnected, DisplayEvent, DisplayHub
from app.settings import Settings
from app.web.factory import create_app
from tests.conftest import free_port

# 06:21:44.9 UTC is 08:21:44.9 in Oslo in May.
T0 = datetime(2026, 5, 17, 6, 21, 44, 900_000, tzinfo=UTC)
WAIT_S = 10.0


@dataclass
class Race:
    tenant_id: int
    event_id: int
    session_id: int
    display: Display
    locations: dict[str, int] = field(default_factory=dict)
    seq: int = 0


async def _race(pool: AsyncConnectionPool) -> Race:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "harbor-timing", "Harbor Timing")
        event = await catalog.create_event(
            conn,
            tenant_id=tenant.id,
            name="Harbor 10K",
            time_zone="Europe/Oslo",
            ct_event_id="CT-1",
        )
        await catalog.upsert_participants(
            conn,
            tenant.id,
            event.id,
            [
                ParticipantIn("42", "1187", "Ann", "Lee", "F", 34),
                # Imported with leading zeros, read without them: still Omar.
                ParticipantIn("7", "002305", "Omar", "Khan", "M", 41),
            ],
        )
        display = await catalog.create_display(
            conn,
            tenant_id=tenant.id,
            event_id=event.id,
            code=new_display_code(),
            name="Finish line",
            locations=["FINISH"],
        )
        session = await timing.open_session(
            conn,
            provider_identity="sc-1",
            session_name="Session_20260517_062000",
            provider_program="SimpleClient",
            provider_version="3.0",
        )
        await timing.claim_session(conn, session.id, "CT-1", "Harbor 10K")
    return Race(tenant.id, event.id, session.id, display)


async def _store(
    pool: AsyncConnectionPool, race: Race, reads: Sequence[tuple[str, str, datetime]]
) -> list[StoredRead]:
    """Stores (location, tag, time) reads through the collector's own db calls."""
    rows: list[NewRead] = []
    async with pool.connection() as conn:
        for location, tag, at in reads:
            if location not in race.locations:
                race.locations[location] = await timing.ensure_location(
                    conn, race.session_id, location
                )
            race.seq += 1
            line = f"CT01_33~{race.seq}~{location}~{tag}~{at:%H:%M:%S.%f}~1~0D4E5F~1"
            rows.append(
                NewRead(
                    race.session_id,
                    race.locations[location],
                    race.seq,
                    location,
                    tag,
                    f"{at:%H:%M:%S.%f}",
                    at,
                    1,
                    "0D4E5F",
                    1,
                    line,
                    at,
                )
            )
        return await timing.store_reads(conn, rows)


async def _publish(bus: MemoryBus, race: Race, stored: list[StoredRead]) -> None:
    batch = ReadBatch(race.session_id, race.event_id, race.tenant_id, tuple(stored))
    await bus.publish(event_channel(race.event_id), batch.to_json())


@dataclass
class Live:
    url: str
    bus: MemoryBus
    race: Race
    hub: DisplayHub[bytes]

    async def wait_for_screens(self, count: int) -> None:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while self.hub.screen_count(self.race.display.code) != count:
            assert asyncio.get_running_loop().time() < deadline, f"never {count} screens"
            await asyncio.sleep(0.02)


@pytest.fixture
async def live(pool: AsyncConnectionPool, db_url: str) -> AsyncIterator[Live]:
    """The app on a real uvicorn server, sharing this test's pool and in-process bus."""
    race = await _race(pool)
    bus = MemoryBus()
    port = free_port()
    settings = Settings(database_url=db_url, secret_key="s" * 48, http_port=port)
    app = create_app(settings, pool=pool, bus=bus)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not server.started:
        assert not task.done(), "uvicorn exited during start-up"
        assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", bus, race, app.state.hub)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


@dataclass
class SseEvent:
    id: str
    event: str
    data: str


class Screen:
    """An SSE client reading in the background, so waiting never cancels the HTTP read."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.opened = asyncio.Event()
        self.events: asyncio.Queue[SseEvent] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, list[str]] = {}
        async for line in self.response.aiter_lines():
            if line == "":
                self.opened.set()
                if "event" in fields:
                    await self.events.put(
                        SseEvent(
                            fields.get("id", [""])[0],
                            fields["event"][0],
                            "\n".join(fields.get("data", [])),
                        )
                    )
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))

    async def next(self) -> SseEvent:
        return await asyncio.wait_for(self.events.get(), WAIT_S)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def screen(live: Live, headers: dict[str, str] | None = None) -> AsyncIterator[Screen]:
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=WAIT_S) as http,
        http.stream("GET", f"/d/{live.race.display.code}/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        s = Screen(response)
        # The first block arrives once the screen is registered on its display's feed.
        await asyncio.wait_for(s.opened.wait(), WAIT_S)
        try:
            yield s
        finally:
            await s.stop()


async def test_runners_reach_a_connected_screen(live: Live, pool: AsyncConnectionPool) -> None:
    async with screen(live) as s:
        first = await _store(
            pool,
            live.race,
            [
                ("FINISH", "1187", T0),
                ("FINISH", "9999", T0 + timedelta(seconds=1)),
                # Ann again within the display's 60 s window: not a new runner.
                ("FINISH", "001187", T0 + timedelta(seconds=5)),
                # Not a location this display shows.
                ("10K", "2305", T0 + timedelta(seconds=6)),
                ("FINISH", "guntime", T0 + timedelta(seconds=7)),
            ],
        )
        await _publish(live.bus, live.race, first)
        ann = await s.next()
        assert (ann.event, ann.id) == ("runner", str(first[0].id))
        assert "Ann Lee" in ann.data and ">42<" in ann.data
        assert "08:21:44.9" in ann.data
        assert 'hx-swap-oob="afterbegin:#recent"' in ann.data
        unknown = await s.next()
        assert unknown.id == str(first[1].id)
        # An unknown chip shows as the chip code it is, never as a bib or a made-up name.
        assert "Chip 9999" in unknown.data and "Bib" not in unknown.data
        assert 'class="runner-bib"' not in unknown.data
        assert "Ann Lee" not in unknown.data and "Omar" not in unknown.data

        later = await _store(pool, live.race, [("FINISH", "2305", T0 + timedelta(minutes=3))])
        await _publish(live.bus, live.race, later)
        omar = await s.next()
        # Nothing came between: the repeat, the other location and the guntime were dropped.
        assert omar.id == str(later[0].id)
        assert "Omar Khan" in omar.data
        # Elapsed since the guntime read seven seconds after T0.
        assert "2:53.0" in omar.data
        await live.wait_for_screens(1)
    # A screen that goes away leaves nothing behind on its display's feed.
    await live.wait_for_screens(0)

    # A reconnecting screen gets only what came after the last id it saw.
    async with screen(live, {"Last-Event-ID": ann.id}) as again:
        assert (await again.next()).id == unknown.id
        assert (await again.next()).id == omar.id
        extra = await _store(pool, live.race, [("FINISH", "1187", T0 + timedelta(minutes=10))])
        await _publish(live.bus, live.race, extra)
        assert (await again.next()).id == str(extra[0].id)

    # A new screen without an id starts from a snapshot of recent runners, oldest first.
    async with screen(live) as fresh:
        ids = [(await fresh.next()).id for _ in range(4)]
        assert ids == [ann.id, unknown.id, omar.id, str(extra[0].id)]


async def test_a_spooled_read_shows_at_once_and_only_once(
    live: Live, pool: AsyncConnectionPool
) -> None:
    race = live.race
    async with screen(live) as s:
        (ann,) = await _store(pool, race, [("FINISH", "1187", T0 + timedelta(minutes=20))])
        # While the database was away the collector published it without an id...
        spooled = ReadBatch(
            race.session_id, race.event_id, race.tenant_id, (replace(ann, id=0),), True
        )
        await live.bus.publish(event_channel(race.event_id), spooled.to_json())
        shown = await s.next()
        assert shown.id == "" and "Ann Lee" in shown.data
        # ...and again, stored, when the spool drained: the screen does not show it twice.
        await _publish(live.bus, race, [ann])
        omar = await _store(pool, race, [("FINISH", "2305", T0 + timedelta(minutes=21))])
        await _publish(live.bus, race, omar)
        assert (await s.next()).id == str(omar[0].id)


async def test_polled_feed_answers_304_until_something_changes(
    live: Live, pool: AsyncConnectionPool
) -> None:
    code = live.race.display.code
    async with httpx.AsyncClient(base_url=live.url, timeout=WAIT_S) as http:
        stored = await _store(pool, live.race, [("FINISH", "1187", T0)])
        await _publish(live.bus, live.race, stored)
        first = await http.get(f"/d/{code}/feed")
        assert first.status_code == 200
        # The feed started with this request and read the database: Ann is there.
        assert "Ann Lee" in first.text
        # The newest stored read id, and how many provisional runners (none) are shown.
        assert first.headers["etag"] == f'"{stored[0].id}-0"'
        same = await http.get(f"/d/{code}/feed", headers={"If-None-Match": first.headers["etag"]})
        assert same.status_code == 304
        assert same.content == b""

        newer = await _store(pool, live.race, [("FINISH", "2305", T0 + timedelta(minutes=1))])
        await _publish(live.bus, live.race, newer)
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            r = await http.get(f"/d/{code}/feed", headers={"If-None-Match": first.headers["etag"]})
            if r.status_code == 200:
                break
            assert asyncio.get_running_loop().time() < deadline, "the feed never changed"
            await asyncio.sleep(0.05)
        assert r.headers["etag"] == f'"{newer[0].id}-0"'
        assert r.text.index("Omar Khan") < r.text.rindex("Ann Lee")

        assert (await http.get("/d/aaaaaaaa/feed")).status_code == 404
        assert (await http.get("/d/aaaaaaaa/stream")).status_code == 404


def _names(display: Display, event: DisplayEvent) -> str:
    return f"{event.id}:{event.runner.name}"


async def test_hub_replays_from_the_database_and_cuts_off_slow_screens(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    bus = MemoryBus()
    # A ring of two frames, so an older Last-Event-ID must be served from the database.
    hub: DisplayHub[str] = DisplayHub(
        pool, bus, _names, snapshot_size=2, ring_size=2, client_queue=3
    )
    code = race.display.code
    try:
        fast = await hub.connect(code)
        slow = await hub.connect(code)
        stored: list[StoredRead] = []
        got: list[str | None] = []
        for i in range(6):
            batch = await _store(pool, race, [("FINISH", str(1000 + i), T0 + timedelta(seconds=i))])
            await _publish(bus, race, batch)
            stored.extend(batch)
            got.append(await fast.next(WAIT_S))
        assert got == [f"{r.id}:Chip {1000 + i}" for i, r in enumerate(stored)]
        # The slow screen never read: it was cut off, and the fast one got everything anyway.
        assert slow.dropped
        with pytest.raises(Disconnected):
            while True:
                await slow.next(0.01)
        slow.close()

        resumed = await hub.connect(code, last_event_id=stored[1].id)
        replay = [await resumed.next(WAIT_S) for _ in range(4)]
        assert replay == got[2:]
        assert await resumed.next(0.05) is None
        resumed.close()

        state = await hub.state(code)
        assert [e.id for e in state.events] == [stored[5].id, stored[4].id]
        assert state.position == stored[5].id
        fast.close()
    finally:
        await hub.close()


async def test_hidden_unknown_chips_never_show(pool: AsyncConnectionPool) -> None:
    race = await _race(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE displays SET show_unknown = false WHERE id = %s", (race.display.id,)
        )
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _names)
    try:
        client = await hub.connect(race.display.code)
        stored = await _store(pool, race, [("FINISH", "9999", T0), ("FINISH", "1187", T0)])
        await _publish(bus, race, stored)
        assert await client.next(WAIT_S) == f"{stored[1].id}:Ann Lee"
        client.close()
    finally:
        await hub.close()
