"""The live path's web end: reads published on the bus reach SSE screens as rendered runners."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.db import templates as template_db
from app.domain.catalog import Display, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.display_pipeline import AlsoFinished, DisplayPipeline, Featured
from app.domain.errors import NotFound
from app.domain.messages import channel as messages_channel
from app.domain.reads import NewRead, ReadBatch, StoredRead, event_channel
from app.domain.templates import starter_layout
from app.pubsub import MemoryBus
from app.services import live as live_service
from app.services.live import Disconnected, DisplayHub, DisplayState, Look, Shown
from app.settings import Settings
from app.web.factory import create_app
from tests.conftest import free_port
from tests.integration.tenancy import claimed_session, serving

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
        session = await claimed_session(
            conn, "sc-1", "Session_20260517_062000", "CT-1", "Harbor 10K"
        )
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


async def _another_display(
    pool: AsyncConnectionPool, race: Race, name: str, location: str
) -> Display:
    """A second display of the race's event."""
    async with pool.connection() as conn:
        return await catalog.create_display(
            conn,
            tenant_id=race.tenant_id,
            event_id=race.event_id,
            code=new_display_code(),
            name=name,
            locations=[location],
        )


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
    async with serving(app, port) as url:
        yield Live(url, bus, race, app.state.hub)


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
        # Without a Last-Event-ID the screen gets the whole board first.
        board = await s.next()
        assert board.event == "board" and _number(board.id) == 0
        assert "Waiting for the first runner" in board.data
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
        # Ids count the display's events: every worker counts them alike.
        assert (ann.event, _number(ann.id)) == ("runner", 1)
        # Numbered under the display's rules: an id from before an edit is not mistaken.
        assert ann.id.split(".")[0] == board.id.split(".")[0]
        assert "Ann Lee" in ann.data and ">42<" in ann.data
        assert "08:21:44.9" in ann.data
        # The runner also goes into the finish list, at its place in read-time order.
        assert 'hx-swap-oob="beforeend:#incoming"' in ann.data
        assert 'data-list="recent" data-position="0"' in ann.data
        unknown = await s.next()
        assert _number(unknown.id) == 2
        # An unknown chip shows as the chip code it is, never as a bib or a made-up name.
        assert "Chip 9999" in unknown.data and "Bib" not in unknown.data
        assert 'class="runner-bib"' not in unknown.data
        assert "Ann Lee" not in unknown.data and "Omar" not in unknown.data

        later = await _store(pool, live.race, [("FINISH", "2305", T0 + timedelta(minutes=3))])
        await _publish(live.bus, live.race, later)
        omar = await s.next()
        # Nothing came between: the repeat, the other location and the guntime were dropped.
        assert _number(omar.id) == 3
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
        assert _number((await again.next()).id) == 4

    # A new screen without an id gets the board as it is now, then live runners.
    async with screen(live) as fresh:
        now = await fresh.next()
        assert (now.event, _number(now.id)) == ("board", 4)
        recent = now.data[now.data.index('id="recent"') :]
        assert recent.index("Ann Lee") < recent.index("Chip 9999") < recent.index("Omar Khan")


async def test_a_spooled_read_shows_at_once_and_only_once(
    live: Live, pool: AsyncConnectionPool
) -> None:
    race = live.race
    async with screen(live) as s:
        assert (await s.next()).event == "board"
        (ann,) = await _store(pool, race, [("FINISH", "1187", T0 + timedelta(minutes=20))])
        # While the database was away the collector published it without an id...
        spooled = ReadBatch(
            race.session_id, race.event_id, race.tenant_id, (replace(ann, id=0),), True
        )
        await live.bus.publish(event_channel(race.event_id), spooled.to_json())
        shown = await s.next()
        assert shown.id == "" and "Ann Lee" in shown.data
        # ...and again, stored, when the spool drained: counted (every worker counts it), but
        # this screen, which showed it already, does not get it twice.
        await _publish(live.bus, race, [ann])
        omar = await _store(pool, race, [("FINISH", "2305", T0 + timedelta(minutes=21))])
        await _publish(live.bus, race, omar)
        assert _number((await s.next()).id) == 2


async def test_polled_feed_answers_304_until_something_changes(
    live: Live, pool: AsyncConnectionPool
) -> None:
    code = live.race.display.code
    async with httpx.AsyncClient(base_url=live.url, timeout=WAIT_S) as http:
        stored = await _store(pool, live.race, [("FINISH", "1187", T0)])
        await _publish(live.bus, live.race, stored)
        first = await http.get(f"/d/{code}/feed")
        assert first.status_code == 200
        # The feed started with this request and replayed the database: Ann is there.
        assert "Ann Lee" in first.text
        # The display's last event id, and how many provisional runners (none) are shown.
        assert first.headers["etag"].endswith('.1-0"')
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
        assert r.headers["etag"].endswith('.2-0"')
        current = r.text[: r.text.index('id="recent"')]
        assert "Omar Khan" in current and "Ann Lee" not in current

        assert (await http.get("/d/aaaaaaaa/feed")).status_code == 404
        assert (await http.get("/d/aaaaaaaa/stream")).status_code == 404

        # The current runner as JSON, as the predecessor's screens polled it.
        current = (await http.get(f"/d/{code}/current")).json()
        assert current["event_id"] == r.headers["etag"].strip('"').rsplit("-", 1)[0]
        assert [(x["name"], x["bib"], x["known"]) for x in current["runners"]] == [
            ("Omar Khan", "7", True)
        ]
        assert (await http.get("/d/aaaaaaaa/current")).status_code == 404


def _number(event_id: str) -> int:
    """The event number of an SSE id "<epoch>.<number>"."""
    epoch, _, number = event_id.partition(".")
    assert len(epoch) == 8, event_id
    return int(number)


class _Names:
    """A renderer for hub tests: each event as "<id>:<name>", the board as "board:<id>", the
    events of one batch of reads on one line each."""

    def event(self, display: Display, look: Look, shown: Shown) -> str:
        event = shown.event
        name = event.runner.name if isinstance(event, (Featured, AlsoFinished)) else "places"
        return f"{shown.id}:{name}"

    def board(self, state: DisplayState) -> str:
        return f"board:{state.position}"

    def join(self, payloads: Sequence[str]) -> str:
        return "\n".join(payloads)

    def messages_changed(self) -> str:
        return "messages"


async def test_hub_resumes_from_its_ring_and_cuts_off_slow_screens(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    bus = MemoryBus()
    # A ring of two frames: an older Last-Event-ID gets the whole board instead.
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names(), ring_size=2, client_queue=3)
    code = race.display.code
    try:
        fast = await hub.connect(code)
        slow = await hub.connect(code)
        assert await fast.next(WAIT_S) == "board:0"
        got: list[str | None] = []
        for i in range(6):
            batch = await _store(pool, race, [("FINISH", str(1000 + i), T0 + timedelta(seconds=i))])
            await _publish(bus, race, batch)
            got.append(await fast.next(WAIT_S))
        assert got == [f"{i + 1}:Chip {1000 + i}" for i in range(6)]
        # The slow screen never read: it was cut off, and the fast one got everything anyway.
        assert slow.dropped
        with pytest.raises(Disconnected):
            while True:
                await slow.next(0.01)
        slow.close()

        epoch = (await hub.state(code)).epoch
        within = await hub.connect(code, last_event_id=f"{epoch}.4")
        assert [await within.next(WAIT_S) for _ in range(2)] == got[4:]
        assert await within.next(0.05) is None
        within.close()
        too_old = await hub.connect(code, last_event_id=f"{epoch}.2")
        assert await too_old.next(WAIT_S) == "board:6"
        assert await too_old.next(0.05) is None
        too_old.close()
        # An id numbered under other rules (the display was edited since) gets the board too.
        edited = await hub.connect(code, last_event_id="0badc0de.5")
        assert await edited.next(WAIT_S) == "board:6"
        edited.close()
        # A screen that saw more than this worker has (another worker ran ahead) gets
        # nothing twice.
        ahead = await hub.connect(code, last_event_id=f"{epoch}.7")
        batch = await _store(pool, race, [("FINISH", "1006", T0 + timedelta(seconds=6))])
        await _publish(bus, race, batch)
        batch = await _store(pool, race, [("FINISH", "1007", T0 + timedelta(seconds=7))])
        await _publish(bus, race, batch)
        assert await ahead.next(WAIT_S) == "8:Chip 1007"
        ahead.close()

        state = await hub.state(code)
        assert [r.name for r in state.snapshot.recent][-2:] == ["Chip 1006", "Chip 1007"]
        assert state.position == 8
        fast.close()
    finally:
        await hub.close()


async def test_idle_screens_get_heartbeats_and_a_beat_never_takes_a_frames_place(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names(), heartbeat_s=0.1)
    try:
        screen = await hub.connect(race.display.code)
        assert await screen.next() == "board:0"
        # No timeout of its own: only the hub's heartbeat ends the wait.
        for _ in range(3):
            assert await asyncio.wait_for(screen.next(), WAIT_S) is None
        batch = await _store(pool, race, [("FINISH", "4000", T0)])
        await _publish(bus, race, batch)
        got = [await asyncio.wait_for(screen.next(), WAIT_S) for _ in range(3)]
        assert [g for g in got if g is not None][:1] == ["1:Chip 4000"]
        screen.close()
    finally:
        await hub.close()


async def test_a_burst_goes_out_as_one_write_and_a_screen_ahead_gets_only_the_rest(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    code = race.display.code
    try:
        steady = await hub.connect(code)
        assert await steady.next(WAIT_S) == "board:0"
        epoch = (await hub.state(code)).epoch
        # A screen that another worker, a little ahead, already gave event 1.
        ahead = await hub.connect(code, last_event_id=f"{epoch}.1")
        burst = [("FINISH", str(3000 + i), T0 + timedelta(seconds=i)) for i in range(3)]
        await _publish(bus, race, await _store(pool, race, burst))
        assert await steady.next(WAIT_S) == "1:Chip 3000\n2:Chip 3001\n3:Chip 3002"
        assert await ahead.next(WAIT_S) == "2:Chip 3001\n3:Chip 3002"
        steady.close()
        ahead.close()
    finally:
        await hub.close()


async def test_displays_under_the_same_rules_share_each_rendered_frame(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    twin = await _another_display(pool, race, "Finish line, other side", "FINISH")
    rendered: list[int] = []

    class Counting(_Names):
        def event(self, display: Display, look: Look, shown: Shown) -> str:
            rendered.append(shown.id)
            return super().event(display, look, shown)

    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, Counting())
    try:
        one = await hub.connect(race.display.code)
        two = await hub.connect(twin.code)
        assert await one.next(WAIT_S) == await two.next(WAIT_S) == "board:0"
        for i in range(3):
            batch = await _store(pool, race, [("FINISH", str(4000 + i), T0 + timedelta(seconds=i))])
            await _publish(bus, race, batch)
            assert await one.next(WAIT_S) == await two.next(WAIT_S) == f"{i + 1}:Chip {4000 + i}"
        # Three events for two displays: three renders.
        assert rendered == [1, 2, 3]
        one.close()
        two.close()
    finally:
        await hub.close()


async def test_displays_under_the_same_rules_share_one_pipeline_and_restart_alone(
    pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    race = await _race(pool)
    twin = await _another_display(pool, race, "Finish line, other side", "FINISH")
    built: list[DisplayPipeline] = []

    class Counted(DisplayPipeline):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            built.append(self)

    monkeypatch.setattr(live_service, "DisplayPipeline", Counted)
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    try:
        one = await hub.connect(race.display.code)
        two = await hub.connect(twin.code)
        assert await one.next(WAIT_S) == await two.next(WAIT_S) == "board:0"
        assert len(built) == 1
        batch = await _store(pool, race, [("FINISH", "4100", T0)])
        await _publish(bus, race, batch)
        assert await one.next(WAIT_S) == await two.next(WAIT_S) == "1:Chip 4100"

        # The twin is edited to hide unknown chips: only its screens start over (a board
        # under the new rules, from a pipeline of its own); the first display goes on.
        async with pool.connection() as conn:
            await catalog.set_display_show_unknown(
                conn, race.tenant_id, race.event_id, twin.id, False
            )
        assert hub.reload(race.event_id, twin.id) == 1
        with pytest.raises(Disconnected):
            await two.next(WAIT_S)
        two.close()
        hidden = await hub.connect(twin.code)
        assert await hidden.next(WAIT_S) == "board:0"
        assert len(built) == 2
        batch = await _store(pool, race, [("FINISH", "4101", T0 + timedelta(seconds=1))])
        await _publish(bus, race, batch)
        assert await one.next(WAIT_S) == "2:Chip 4101"
        assert await hidden.next(0.1) is None
        assert not one.dropped

        # The first display's last screen leaves and its feed stops: the twin's goes on.
        one.close()
        hub.reload(race.event_id, race.display.id)
        await _publish(bus, race, await _store(pool, race, [("FINISH", "1187", T0)]))
        assert await hidden.next(WAIT_S) == "1:Ann Lee"
        hidden.close()
    finally:
        await hub.close()


async def test_a_revoked_code_answers_404_at_once_here_and_within_a_second_elsewhere(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    bus = MemoryBus()
    editing: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    other: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    code = race.display.code
    try:
        for hub in (editing, other):
            assert (await hub.state(code)).position == 0
        async with pool.connection() as conn:
            await conn.execute("UPDATE displays SET revoked_at = now() WHERE code = %s", (code,))
        editing.reload(race.event_id, race.display.id)
        with pytest.raises(NotFound):
            await editing.state(code)
        # The other process keeps its lookup for a second, far less than the 10 s after which
        # its feed would notice by itself.
        async with asyncio.timeout(3.0):
            while True:
                try:
                    await other.state(code)
                except NotFound:
                    break
                await asyncio.sleep(0.05)
    finally:
        await editing.close()
        await other.close()


async def test_a_saved_template_redraws_open_screens_in_every_process(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    async with pool.connection() as conn:
        template_id = await template_db.create_template(conn, race.tenant_id, "TV", {})
        v1 = starter_layout().to_json()
        await template_db.add_version(conn, race.tenant_id, template_id, v1, None, "")
        await template_db.set_display_template(
            conn, race.tenant_id, race.event_id, race.display.id, template_id, None
        )

    class Looks(_Names):
        def board(self, state: DisplayState) -> str:
            return f"board:{state.position}:v{state.look.version}"

    bus = MemoryBus()
    editing: DisplayHub[str] = DisplayHub(pool, bus, Looks())
    other: DisplayHub[str] = DisplayHub(pool, bus, Looks())
    code = race.display.code
    try:
        here, there = await editing.connect(code), await other.connect(code)
        assert await here.next(WAIT_S) == await there.next(WAIT_S) == "board:0:v1"
        await _publish(bus, race, await _store(pool, race, [("FINISH", "1187", T0)]))
        assert await here.next(WAIT_S) == await there.next(WAIT_S) == "1:Ann Lee"
        last = f"{(await other.state(code)).epoch}.1"

        async with pool.connection() as conn:
            v2 = replace(starter_layout(), background="#000000").to_json()
            await template_db.add_version(conn, race.tenant_id, template_id, v2, None, "")
        await editing.announce(race.event_id, [race.display.id])
        # Both screens are let go at once (the other process hears it on the bus, well
        # within the second the issue asks for, not at its 10 s settings check) …
        async with asyncio.timeout(1.0):
            for client in (here, there):
                with pytest.raises(Disconnected):
                    while True:
                        await client.next(WAIT_S)
        here.close()
        there.close()
        # … and, resuming with the id they had, get the board in the new version.
        again = await other.connect(code, last_event_id=last)
        assert await again.next(WAIT_S) == "board:1:v2"
        again.close()
    finally:
        await editing.close()
        await other.close()


async def test_a_changed_message_queue_tells_the_screens_it_concerns(
    pool: AsyncConnectionPool,
) -> None:
    race = await _race(pool)
    other = await _another_display(pool, race, "Start", "START")
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    try:
        mine, theirs = await hub.connect(race.display.code), await hub.connect(other.code)
        assert await mine.next(WAIT_S) == await theirs.next(WAIT_S) == "board:0"
        epoch = (await hub.state(race.display.code)).epoch

        def change(display_id: int | None) -> bytes:
            return json.dumps(
                {"event_id": race.event_id, "display_id": display_id, "action": "added"}
            ).encode()

        # The display's own queue: only its screens hear it.
        await bus.publish(messages_channel(race.event_id), change(race.display.id))
        assert await mine.next(WAIT_S) == "messages"
        assert await theirs.next(0.1) is None
        # The event's queue: every display's screens.
        await bus.publish(messages_channel(race.event_id), change(None))
        assert await mine.next(WAIT_S) == await theirs.next(WAIT_S) == "messages"
        # It numbers no event: the next runner is still event 1, and a screen resuming from
        # before the notice gets nothing twice.
        await _publish(bus, race, await _store(pool, race, [("FINISH", "1187", T0)]))
        assert await mine.next(WAIT_S) == "1:Ann Lee"
        resumed = await hub.connect(race.display.code, last_event_id=f"{epoch}.0")
        assert await resumed.next(WAIT_S) == "1:Ann Lee"
        for client in (mine, theirs, resumed):
            client.close()
    finally:
        await hub.close()


async def test_two_workers_compute_the_same_events(pool: AsyncConnectionPool) -> None:
    """A worker that starts late replays the history and counts exactly as the first one."""
    race = await _race(pool)
    bus = MemoryBus()
    early: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    late: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    code = race.display.code
    try:
        first = await early.connect(code)
        assert await first.next(WAIT_S) == "board:0"
        seen: list[str | None] = []
        for i, tag in enumerate(["1187", "9999", "2305", "001187", "4242"]):
            batch = await _store(pool, race, [("FINISH", tag, T0 + timedelta(seconds=30 * i))])
            await _publish(bus, race, batch)
            seen.append(await first.next(WAIT_S))
        epoch = (await early.state(code)).epoch
        assert (await late.state(code)).epoch == epoch
        second = await late.connect(code, last_event_id=f"{epoch}.2")
        # Resumed from its own replay of the database: the same ids for the same runners.
        assert [await second.next(WAIT_S) for _ in range(3)] == seen[2:]
        batch = await _store(pool, race, [("FINISH", "5555", T0 + timedelta(minutes=5))])
        await _publish(bus, race, batch)
        assert await first.next(WAIT_S) == await second.next(WAIT_S) == "6:Chip 5555"
        first.close()
        second.close()
    finally:
        await early.close()
        await late.close()


async def test_hidden_unknown_chips_never_show(pool: AsyncConnectionPool) -> None:
    race = await _race(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE displays SET show_unknown = false WHERE id = %s", (race.display.id,)
        )
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    try:
        client = await hub.connect(race.display.code)
        assert await client.next(WAIT_S) == "board:0"
        stored = await _store(pool, race, [("FINISH", "9999", T0), ("FINISH", "1187", T0)])
        await _publish(bus, race, stored)
        assert await client.next(WAIT_S) == "1:Ann Lee"
        client.close()
    finally:
        await hub.close()
