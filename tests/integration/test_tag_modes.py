"""Tag modes and unknown chips end to end: displays, chip files, the event pages, live screens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import Display, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.errors import InvalidInput
from app.domain.reads import EXACT, STRIP_ZEROS, TAG_MODES, normalize_tag
from app.pubsub import MemoryBus
from app.services import events as events_service
from app.services.chip_files import import_chip_file
from app.services.live import Disconnected, DisplayClient, DisplayHub
from tests.integration.tenancy import (
    Client,
    TenantSeed,
    app_client,
    claimed_session,
    login,
    seed_tenant,
)
from tests.integration.test_collector import scalar
from tests.integration.test_display_stream import T0, WAIT_S, Race, _Names, _publish, _store

pytestmark = pytest.mark.timeout(60)


async def _race(pool: AsyncConnectionPool, seed: TenantSeed, ct_event_id: str) -> Race:
    """A display on every location of the seed's event, and a session claimed by it."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE events SET ct_event_id = %s WHERE id = %s", (ct_event_id, seed.event.id)
        )
        display = await catalog.create_display(
            conn,
            tenant_id=seed.tenant_id,
            event_id=seed.event.id,
            code=new_display_code(),
            name="Finish line",
        )
        session = await claimed_session(
            conn, f"sc-{ct_event_id}", f"Session_{ct_event_id}", ct_event_id, seed.event.name
        )
    return Race(seed.tenant_id, seed.event.id, session.id, display)


async def _shown(client: DisplayClient[str], count: int) -> list[str]:
    """`count` events, whether they come one by one or as one write (one batch of reads)."""
    shown: list[str] = []
    while len(shown) < count:
        shown.extend(str(await client.next(WAIT_S)).split("\n"))
    return shown


async def _names_of(pool: AsyncConnectionPool, race: Race, tags: list[str]) -> list[str]:
    """What a fresh screen of the race's display shows for these reads, a minute apart."""
    bus = MemoryBus()
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names())
    try:
        client = await hub.connect(race.display.code)
        assert str(await client.next(WAIT_S)).startswith("board:")
        reads = [("FINISH", tag, T0 + timedelta(minutes=i)) for i, tag in enumerate(tags)]
        stored = await _store(pool, race, reads)
        await _publish(bus, race, stored)
        shown = await _shown(client, len(tags))
        assert await client.next(0.05) is None
        client.close()
        return [s.split(":", 1)[1] for s in shown]
    finally:
        await hub.close()


async def test_exact_mode_keeps_leading_zeros_apart_for_displays_and_chip_files(
    pool: AsyncConnectionPool,
) -> None:
    exact = await seed_tenant(pool, "exact-timing", "Exact 10K")
    await events_service.set_tag_mode(pool, exact.tenant_id, exact.event.id, EXACT)
    strip = await seed_tenant(pool, "strip-timing", "Strip 10K")
    for seed in (exact, strip):
        async with pool.connection() as conn:
            await catalog.upsert_participants(
                conn,
                seed.tenant_id,
                seed.event.id,
                [
                    ParticipantIn("42", "009573", "Ann", "Lee"),
                    ParticipantIn("43", "", "Omar", "Khan"),
                ],
            )
        report = await import_chip_file(
            pool, seed.tenant_id, seed.event.id, ["chip,bib\n", "000777,43\n"]
        )
        assert report.imported == 1 and not report.errors

    # Exact: 009573 is Ann's chip and 9573 is another chip nobody has; likewise 000777 / 777.
    race = await _race(pool, exact, "CT-EXACT")
    names = await _names_of(pool, race, ["009573", "9573", "000777", "777", "009573"])
    assert names == ["Ann Lee", "Chip 9573", "Omar Khan", "Chip 777", "Ann Lee"]
    async with pool.connection() as conn:
        assert await timing.event_chip_codes(conn, exact.event.id) == {"009573", "000777"}

    # Strip zeros: each pair is one chip, whichever way it is spelled.
    race = await _race(pool, strip, "CT-STRIP")
    names = await _names_of(pool, race, ["009573", "9573", "000777", "777"])
    assert names == ["Ann Lee", "Ann Lee", "Omar Khan", "Omar Khan"]
    async with pool.connection() as conn:
        assert await timing.event_chip_codes(conn, strip.event.id) == {"9573", "777"}

    # A chip file under exact keeps two spellings as two chips on two bibs; strip refuses it.
    lines = ["chip,bib\n", "0055,42\n", "55,43\n"]
    assert (await import_chip_file(pool, exact.tenant_id, exact.event.id, lines)).imported == 2
    refused = await import_chip_file(pool, strip.tenant_id, strip.event.id, lines)
    assert [e.reason for e in refused.errors] == ["chip 55 is on bib 42 at line 2"]


async def test_the_tag_mode_is_set_once_before_chips_exist(pool: AsyncConnectionPool) -> None:
    seed = await seed_tenant(pool, "once-timing", "Once 10K")
    tenant_id, event_id = seed.tenant_id, seed.event.id
    assert seed.event.tag_mode == STRIP_ZEROS
    assert (await events_service.set_tag_mode(pool, tenant_id, event_id, EXACT)).tag_mode == EXACT
    with pytest.raises(InvalidInput, match="Pick how chip codes are compared"):
        await events_service.set_tag_mode(pool, tenant_id, event_id, "lowercase")
    # Participants without chips do not fix it.
    async with pool.connection() as conn:
        await catalog.upsert_participants(
            conn, tenant_id, event_id, [ParticipantIn("1", "", "Ann", "Lee")]
        )
    back = await events_service.set_tag_mode(pool, tenant_id, event_id, STRIP_ZEROS)
    assert back.tag_mode == STRIP_ZEROS

    # A chip file's chips fix it, as registered chips do.
    await import_chip_file(pool, tenant_id, event_id, ["0042,1\n"])
    with pytest.raises(InvalidInput) as caught:
        await events_service.set_tag_mode(pool, tenant_id, event_id, EXACT)
    assert str(caught.value) == (
        "This event already has 1 chip; the tag mode is fixed once chips are imported."
    )
    async with pool.connection() as conn:
        await catalog.upsert_participants(
            conn,
            tenant_id,
            event_id,
            [ParticipantIn("2", "77", "Omar", "Khan"), ParticipantIn("3", "78", "Eva", "Berg")],
        )
    with pytest.raises(InvalidInput, match="already has 3 chips"):
        await events_service.set_tag_mode(pool, tenant_id, event_id, EXACT)
    # Choosing the mode it already has is no change, so it is fine.
    same = await events_service.set_tag_mode(pool, tenant_id, event_id, STRIP_ZEROS)
    assert same.tag_mode == STRIP_ZEROS
    assert (
        await scalar(pool, "SELECT tag_mode FROM events WHERE id = %s", event_id) == "strip_zeros"
    )
    changes = await scalar(
        pool, "SELECT count(*) FROM audit_log WHERE action = 'event.tag_mode' AND tenant_id = %s",
        tenant_id,
    )  # fmt: skip
    assert changes == 2


@pytest.fixture
async def web(
    db_url: str, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[Client, TenantSeed, TenantSeed]]:
    mine = await seed_tenant(pool, "harbor-timing", "Harbor 10K")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon")
    async with app_client(db_url) as c:
        yield c, mine, rival


async def test_the_edit_page_sets_the_tag_mode_until_chips_exist(
    web: tuple[Client, TenantSeed, TenantSeed], pool: AsyncConnectionPool
) -> None:
    client, mine, rival = web
    token = await login(client, mine.email)
    event_id = mine.event.id
    edit = await client.get(f"/events/{event_id}/edit")
    assert edit.status_code == 200
    assert f'action="/events/{event_id}/tag-mode"' in edit.text
    for mode, text in TAG_MODES.items():
        assert f'value="{mode}"' in edit.text and text in edit.text
    assert '<option value="strip_zeros" selected>' in edit.text

    saved = await client.post(
        f"/events/{event_id}/tag-mode",
        data={"tag_mode": "exact", "_csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/events/{event_id}"
    assert await scalar(pool, "SELECT tag_mode FROM events WHERE id = %s", event_id) == "exact"
    page = await client.get(f"/events/{event_id}")
    assert TAG_MODES[EXACT] in page.text
    htmx = await client.post(
        f"/events/{event_id}/tag-mode",
        data={"tag_mode": "strip_zeros", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"] == f"/events/{event_id}"
    bad = await client.post(
        f"/events/{event_id}/tag-mode",
        data={"tag_mode": "nonsense", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 400 and "Pick how chip codes are compared" in bad.text

    async with pool.connection() as conn:
        await catalog.upsert_participants(
            conn,
            mine.tenant_id,
            event_id,
            [ParticipantIn("1", "0042", "Ann", "Lee"), ParticipantIn("2", "43", "Omar", "Khan")],
        )
    locked = await client.post(
        f"/events/{event_id}/tag-mode", data={"tag_mode": "exact", "_csrf_token": token}
    )
    assert locked.status_code == 400
    assert (
        "This event already has 2 chips; the tag mode is fixed once chips are imported."
        in locked.text
    )
    assert await scalar(pool, "SELECT tag_mode FROM events WHERE id = %s", event_id) == (
        "strip_zeros"
    )
    edit = await client.get(f"/events/{event_id}/edit")
    assert f'action="/events/{event_id}/tag-mode"' not in edit.text
    assert "already has 2 chips" in edit.text and TAG_MODES[STRIP_ZEROS] in edit.text

    # Another tenant's event: 404, and nothing of it changes.
    foreign = await client.post(
        f"/events/{rival.event.id}/tag-mode", data={"tag_mode": "exact", "_csrf_token": token}
    )
    assert foreign.status_code == 404 and "Secret Marathon" not in foreign.text
    assert await scalar(pool, "SELECT tag_mode FROM events WHERE id = %s", rival.event.id) == (
        "strip_zeros"
    )


async def test_the_event_page_toggles_unknown_chips_per_display(
    web: tuple[Client, TenantSeed, TenantSeed], pool: AsyncConnectionPool
) -> None:
    client, mine, rival = web
    token = await login(client, mine.email)
    event_id = mine.event.id
    displays: list[Display] = []
    async with pool.connection() as conn:
        for seed in (mine, mine, rival):
            displays.append(
                await catalog.create_display(
                    conn,
                    tenant_id=seed.tenant_id,
                    event_id=seed.event.id,
                    code=new_display_code(),
                    name="Finish line",
                )
            )
    first, second, foreign = displays
    path = f"/events/{event_id}/displays/{first.id}/unknown-chips"
    page = await client.get(f"/events/{event_id}")
    assert f'action="{path}"' in page.text
    assert "Unknown chips:" in page.text
    assert "show the chip code" in page.text and "hide them" in page.text

    hidden = await client.post(
        path, data={"show_unknown": "0", "_csrf_token": token}, follow_redirects=False
    )
    assert hidden.status_code == 303
    assert hidden.headers["location"] == f"/events/{event_id}#display-{first.id}"
    shown = "SELECT show_unknown FROM displays WHERE id = %s"
    assert await scalar(pool, shown, first.id) is False
    assert await scalar(pool, shown, second.id) is True
    page = await client.get(f"/events/{event_id}")
    assert '<option value="0" selected>hide them</option>' in page.text

    again = await client.post(
        path, data={"show_unknown": "1", "_csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert again.status_code == 200 and again.headers["hx-redirect"] == f"/events/{event_id}"
    assert await scalar(pool, shown, first.id) is True
    bad = await client.post(path, data={"show_unknown": "maybe", "_csrf_token": token})
    assert bad.status_code == 400

    # Another tenant's display, or one of another event, is a 404 and stays as it was.
    for event, display in ((rival.event.id, foreign.id), (event_id, foreign.id)):
        r = await client.post(
            f"/events/{event}/displays/{display}/unknown-chips",
            data={"show_unknown": "0", "_csrf_token": token},
        )
        assert r.status_code == 404
    assert await scalar(pool, shown, foreign.id) is True


async def test_a_streaming_screen_picks_up_the_unknown_chips_setting(
    pool: AsyncConnectionPool,
) -> None:
    seed = await seed_tenant(pool, "live-timing", "Live 10K")
    async with pool.connection() as conn:
        await catalog.upsert_participants(
            conn, seed.tenant_id, seed.event.id, [ParticipantIn("42", "1187", "Ann", "Lee")]
        )
    race = await _race(pool, seed, "CT-LIVE")
    bus = MemoryBus()
    # Another app process made the edit: this hub only learns it by re-reading its display.
    hub: DisplayHub[str] = DisplayHub(pool, bus, _Names(), recheck_s=0.1)
    try:
        client = await hub.connect(race.display.code)
        assert await client.next(WAIT_S) == "board:0"
        stored = await _store(pool, race, [("FINISH", "9999", T0)])
        await _publish(bus, race, stored)
        assert await client.next(WAIT_S) == "1:Chip 9999"
        before = (await hub.state(race.display.code)).cursor

        await events_service.set_show_unknown(
            pool, seed.tenant_id, seed.event.id, race.display.id, False
        )
        with pytest.raises(Disconnected):
            while True:
                await client.next(WAIT_S)
        client.close()
        # The screen reconnects to a feed with the new rule: unknown chips no longer show.
        # Its last id was numbered under the old rules, so it gets the board first.
        again = await hub.connect(race.display.code, last_event_id=before)
        assert await again.next(WAIT_S) == "board:0"
        later = await _store(
            pool, race, [("FINISH", "8888", T0 + timedelta(minutes=1)), ("FINISH", "1187", T0)]
        )
        await _publish(bus, race, later)
        assert await again.next(WAIT_S) == "1:Ann Lee"
        assert await again.next(0.05) is None

        # In the process that made the edit, reload stops the display's feed at once.
        await events_service.set_show_unknown(
            pool, seed.tenant_id, seed.event.id, race.display.id, True
        )
        assert hub.reload(seed.event.id, race.display.id) == 1
        with pytest.raises(Disconnected):
            await asyncio.wait_for(again.next(WAIT_S), 1.0)
        again.close()
    finally:
        await hub.close()


@pytest.mark.parametrize("mode", [STRIP_ZEROS, EXACT])
async def test_the_sql_rule_spells_tags_as_the_python_one(
    pool: AsyncConnectionPool, mode: str
) -> None:
    """Spectator and announcer queries match raw reads to stored chips in SQL (migration 0016)."""
    tags = ["009573", "9573", " 9573 ", "abc12", "ABC12", "000", "0", "", "  ", "00A1", "a 1"]
    async with pool.connection() as conn:
        for tag in tags:
            cur = await conn.execute("SELECT normalize_tag(%s, %s)", (tag, mode == EXACT))
            row = await cur.fetchone()
            assert row is not None and row[0] == normalize_tag(tag, mode), tag
