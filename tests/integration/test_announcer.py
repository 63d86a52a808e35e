"""The announcer view over HTTP: coming next at a mat, projected arrivals, the follow list,
search, the screen PIN, a revoked code, and another tenant's runners kept out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.catalog import EventLocation, ParticipantIn
from app.domain.codes import new_display_code
from app.pubsub import MemoryBus
from app.services import announcer
from app.services.announcer import AnnouncerCache
from app.services.live import DisplayHub
from tests.integration.tenancy import Client, app_client, claimed_session, login, seed_tenant
from tests.integration.test_display_stream import _Names
from tests.integration.test_spectator import _ids, _store

pytestmark = pytest.mark.timeout(60)

GUN = datetime(2026, 5, 17, 8, 0, tzinfo=UTC)


def after(h: int = 0, m: int = 0, s: int = 0) -> datetime:
    return GUN + timedelta(hours=h, minutes=m, seconds=s)


@dataclass(frozen=True)
class Race:
    code: str
    locked: str
    revoked: str
    event_id: int
    email: str
    session_id: int
    ids: dict[str, int]


@pytest.fixture
async def race(pool: AsyncConnectionPool) -> Race:
    seed = await seed_tenant(pool, "announce-timing", "Bridge Half", ct_event_id="CT-A")
    tenant_id, event_id = seed.tenant_id, seed.event.id
    async with pool.connection() as conn:
        await conn.execute("UPDATE events SET min_finish_s = 600 WHERE id = %s", (event_id,))
        await catalog.replace_event_locations(
            conn,
            tenant_id,
            event_id,
            [
                EventLocation("START", "start"),
                EventLocation("5K", "split"),
                EventLocation("10K", "split"),
                EventLocation("FINISH", "finish"),
            ],
        )
        await catalog.upsert_participants(
            conn,
            tenant_id,
            event_id,
            [
                ParticipantIn("42", "001187", "Ann", "Lee", "F", 34, "Bergen"),
                ParticipantIn("7", "2305", "Omar", "Khan", "M", 41, "Oslo"),
                ParticipantIn("8", "3001", "Bea", "Berg", "F", 29, "Tromsø"),
                ParticipantIn("5", "5005", "Cleo", "Vance", "F", 39, "Bodø", team="Fjord RC"),
                ParticipantIn("66", "6666", "<script>alert(1)</script>", "{{7*7}}", "F", 30),
                ParticipantIn("11", "1111", "Dan", "Start", "M", 52),
            ],
        )
        await conn.execute(
            "UPDATE participants SET vip = true, custom = %s::jsonb"
            " WHERE bib = '5' AND event_id = %s",
            ('{"birthday": "Turns 40 today"}', event_id),
        )
        await conn.execute(
            "UPDATE participants SET custom = %s::jsonb WHERE bib = '66' AND event_id = %s",
            ('{"note": "<b>{{7*7}}</b>"}', event_id),
        )
        displays = [
            await catalog.create_display(
                conn,
                tenant_id=tenant_id,
                event_id=event_id,
                code=new_display_code(),
                name=name,
                locations=["FINISH"],
            )
            for name in ("Finish", "Locked", "Revoked")
        ]
        await conn.execute(
            "UPDATE displays SET pin_hash = '$argon2id$not-a-real-hash' WHERE id = %s",
            (displays[1].id,),
        )
        await conn.execute(
            "UPDATE displays SET revoked_at = now() WHERE id = %s", (displays[2].id,)
        )
        session = await claimed_session(conn, "sc-a", "Session_A", "CT-A", "Bridge Half")
        await _store(
            conn,
            session.id,
            [
                # Warm-up over the 10K mat before the gun: not a split.
                ("10K", "6666", GUN - timedelta(minutes=5)),
                ("START", "guntime", GUN),
                ("START", "1187", after(s=20)),
                ("START", "1111", after(s=30)),
                # The course starts on the finish mats: a crossing, not a finish.
                ("FINISH", "1187", after(s=40)),
                ("10K", "2305", after(m=38)),
                ("10K", "1187", after(m=41, s=7)),
                ("10K", "3001", after(m=45)),
                ("5K", "5005", after(m=25)),
                ("10K", "5005", after(m=50)),
                # Read twice at the mat: one runner, at the first read.
                ("10K", "6666", after(m=52)),
                ("10K", "006666", after(m=52, s=1)),
                ("FINISH", "2305", after(h=1, m=20)),
                ("FINISH", "001187", after(h=1, m=29, s=3)),
                ("FINISH", "3001", after(h=1, m=35)),
            ],
        )
        ids = await _ids(conn, tenant_id, event_id)
        # Another tenant with the same location names and the same chip, in its own race.
        other = await catalog.create_tenant(conn, "other-announce", "Other")
        other_event = await catalog.create_event(
            conn, tenant_id=other.id, name="Elsewhere", ct_event_id="CT-O"
        )
        await catalog.upsert_participants(
            conn, other.id, other_event.id, [ParticipantIn("1", "6666", "Secret", "Runner")]
        )
        await conn.execute(
            "UPDATE participants SET vip = true WHERE event_id = %s", (other_event.id,)
        )
        other_session = await claimed_session(conn, "sc-o", "Session_O", "CT-O", "Elsewhere")
        await _store(conn, other_session.id, [("10K", "6666", after(m=51))])
    return Race(
        displays[0].code,
        displays[1].code,
        displays[2].code,
        event_id,
        seed.email,
        session.id,
        ids,
    )


@pytest.fixture
async def client(db_url: str, race: Race) -> AsyncIterator[Client]:
    async with app_client(db_url) as c:
        yield c


def _section(text: str, title_id: str) -> str:
    """One list of the lists fragment, by its heading's id."""
    start = text.index(f'id="{title_id}"')
    end = text.find("</section>", start)
    return text[start:end]


async def test_the_page_shows_coming_next_projected_and_followed(
    client: Client, race: Race
) -> None:
    page = await client.get(f"/a/{race.code}")
    assert page.status_code == 200
    text = page.text
    assert f'hx-get="/a/{race.code}/lists?mat=10K"' in text and 'hx-trigger="every 3s' in text
    assert '<option value="10K" selected>' in text and 'value="FINISH"' not in text
    assert "/static/js/announcer.js" in text and "<style" not in text
    coming = _section(text, "coming-title")
    # Read at 10K and not yet finished, newest first; the finishers and Dan (start only) not.
    assert coming.index("{{7*7}}") < coming.index("Cleo Vance")
    for name in ("Ann Lee", "Omar Khan", "Bea Berg", "Dan Start"):
        assert name not in coming
    assert coming.count("Cleo Vance") == 1 and coming.count("{{7*7}}</strong>") == 1
    # A row opens the runner's spectator card.
    assert f'href="/s/{race.code}/runners/{race.ids["5"]}"' in coming
    # Bib, city, team, age group, VIP star and the custom field.
    assert ">5</span>" in coming and "Bodø" in coming and "Fjord RC" in coming
    assert "F35-39" in coming and "★" in coming and "Turns 40 today" in coming
    projected = _section(text, "projected-title")
    # 10K → finish took 42:00, 47:56 and 50:00: the median is 47:56. Cleo passed 10K at 50:00
    # (08:50:00), so she is due at 09:37:56 (1:37:56 after the gun).
    assert "3 finished" in projected
    assert "09:37:56" in projected and "1:37:56" in projected
    assert projected.index("Cleo Vance") < projected.index("&lt;script&gt;")
    followed = _section(text, "followed-title")
    assert "Cleo Vance" in followed and "Ann Lee" not in followed


async def test_names_and_custom_fields_render_inert(client: Client, race: Race) -> None:
    for path in (f"/a/{race.code}", f"/a/{race.code}/lists"):
        text = (await client.get(path)).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<script>alert(1)" not in text and "<b>" not in text
        assert "{{7*7}}" in text and "&lt;b&gt;{{7*7}}&lt;/b&gt;" in text
    found = await client.get(f"/a/{race.code}/search", params={"q": "66"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in found.text and "{{7*7}}" in found.text
    assert "<script>alert(1)" not in found.text
    assert f'data-pid="{race.ids["66"]}"' in found.text


async def test_the_mat_is_chosen_in_the_query(client: Client, race: Race) -> None:
    start = await client.get(f"/a/{race.code}/lists", params={"mat": "START"})
    coming = _section(start.text, "coming-title")
    assert "Dan Start" in coming and "Ann Lee" not in coming and "Cleo" not in coming
    five = await client.get(f"/a/{race.code}", params={"mat": "5K"})
    assert '<option value="5K" selected>' in five.text
    assert "Cleo Vance" in _section(five.text, "coming-title")
    # Not a mat of this event (the finish, or made up): the default mat.
    for mat in ("FINISH", "NOWHERE"):
        r = await client.get(f"/a/{race.code}/lists", params={"mat": mat})
        assert "from 10K" in r.text and "Dan Start" not in _section(r.text, "coming-title")


async def test_ticked_runners_join_the_follow_list(client: Client, race: Race) -> None:
    dan, ann = race.ids["11"], race.ids["42"]
    r = await client.get(f"/a/{race.code}/lists", params={"follow": f"{dan},{ann},x,99999999"})
    followed = _section(r.text, "followed-title")
    # On the course first, then not read at a split, then finished; the VIP always.
    assert followed.index("Cleo Vance") < followed.index("Dan Start") < followed.index("Ann Lee")
    assert "finished at 09:29:03" in followed and "START at 08:00:30" in followed
    assert f'data-pid="{dan}" aria-pressed="true"' in followed


async def test_lists_answer_304_until_a_read_arrives(
    client: Client, race: Race, pool: AsyncConnectionPool
) -> None:
    first = await client.get(f"/a/{race.code}/lists")
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"] == "no-cache"
    again = await client.get(f"/a/{race.code}/lists", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # Another mat or another follow list is another answer.
    other = await client.get(
        f"/a/{race.code}/lists", params={"mat": "5K"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200
    async with pool.connection() as conn:
        await _store(conn, race.session_id, [("FINISH", "5005", after(h=1, m=38))])
    fresh = await client.get(f"/a/{race.code}/lists", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    # Cleo finished: no longer coming, and her finish shows in the follow list.
    assert "Cleo" not in _section(fresh.text, "coming-title")
    assert "finished at 09:38:00" in _section(fresh.text, "followed-title")
    assert "4 finished" in fresh.text


async def test_another_tenants_runner_never_appears(client: Client, race: Race) -> None:
    for path, params in (
        (f"/a/{race.code}", {}),
        (f"/a/{race.code}/lists", {"follow": "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"}),
        (f"/a/{race.code}/search", {"q": "1"}),
    ):
        r = await client.get(path, params=params)
        assert r.status_code == 200
        assert "Secret" not in r.text
    found = await client.get(f"/a/{race.code}/search", params={"q": "Secret"})
    assert "Nobody with bib or name" in found.text and "Runner" not in found.text


async def test_a_revoked_or_unknown_code_is_a_404_and_a_pin_locks_the_view(
    client: Client, race: Race
) -> None:
    for code in (race.revoked, "aaaaaaaa"):
        for path in (f"/a/{code}", f"/a/{code}/lists", f"/a/{code}/search?q=42"):
            r = await client.get(path)
            assert r.status_code == 404, path
            assert "Ann" not in r.text
    locked = await client.get(f"/a/{race.locked}")
    assert locked.status_code == 200 and f'action="/d/{race.locked}/pin"' in locked.text
    assert "Cleo" not in locked.text
    for path in (f"/a/{race.locked}/lists", f"/a/{race.locked}/search?q=42"):
        r = await client.get(path)
        assert r.status_code == 403 and "Ann" not in r.text


async def test_the_event_page_links_the_announcer_view_of_its_first_display(
    client: Client, race: Race
) -> None:
    anonymous = await client.get(f"/events/{race.event_id}/announcer", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    await login(client, race.email)
    page = await client.get(f"/events/{race.event_id}")
    assert f'href="/events/{race.event_id}/announcer"' in page.text
    r = await client.get(f"/events/{race.event_id}/announcer", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/a/{race.code}"


async def test_a_poll_adds_only_new_reads_and_agrees_with_a_fresh_look(
    race: Race, pool: AsyncConnectionPool
) -> None:
    """The view's cache folds in the reads stored since the last poll; what it shows is what
    a cold cache computes from all the reads, also once the 12-hour window moves on."""
    hub: DisplayHub[str] = DisplayHub(pool, MemoryBus(), _Names())
    cache = AnnouncerCache()

    async def look(with_cache: AnnouncerCache) -> announcer.AnnouncerView:
        view = await announcer.announcer_view(pool, hub, with_cache, race.code, "10K")
        assert view is not None
        return view

    def shown(view: announcer.AnnouncerView) -> list[object]:
        lists = (view.coming, view.projected, view.followed)
        return [[(r.runner.bib, r.where, r.clock, r.eta_clock) for r in rows] for rows in lists]

    try:
        first = await look(cache)
        (fold,) = cache._folds.values()
        start_id = fold.last_id
        async with pool.connection() as conn:
            await _store(conn, race.session_id, [("10K", "1111", after(m=55))])
            await _store(conn, race.session_id, [("FINISH", "5005", after(h=1, m=38))])
        later = await look(cache)
        # The same fold, moved on: the day's reads were not read again.
        assert list(cache._folds.values()) == [fold] and fold.last_id > start_id
        assert shown(later) == shown(await look(AnnouncerCache())) != shown(first)
        assert "11" in [r.runner.bib for r in later.coming] and later.finishers == 4

        # Fifteen hours on, the morning's reads leave the window: a fresh fold, same answer.
        async with pool.connection() as conn:
            await _store(conn, race.session_id, [("10K", "3001", after(h=15))])
        moved = await look(cache)
        assert list(cache._folds.values()) != [fold]
        assert shown(moved) == shown(await look(AnnouncerCache()))
        assert moved.finishers == 0
    finally:
        await hub.close()
