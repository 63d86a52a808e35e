"""The spectator page a screen's QR opens: the live board, search, and a runner's own card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, timing
from app.domain.catalog import EventLocation, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.reads import NewRead
from tests.integration.tenancy import Client, app_client, claimed_session

pytestmark = pytest.mark.timeout(60)

GUN = datetime(2026, 5, 17, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Race:
    code: str
    ann: int
    omar: int
    hostile: int
    gone: int
    foreign: int


async def _store(conn: object, session_id: int, reads: list[tuple[str, str, datetime]]) -> None:
    rows = []
    for seq, (location, tag, at) in enumerate(reads, start=1):
        location_id = await timing.ensure_location(conn, session_id, location)  # type: ignore[arg-type]
        line = f"CT01_33~{seq}~{location}~{tag}~{at:%H:%M:%S.%f}~1~0D4E5F~1"
        rows.append(
            NewRead(
                session_id,
                location_id,
                seq,
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
    await timing.store_reads(conn, rows)  # type: ignore[arg-type]


async def _ids(conn: object, tenant_id: int, event_id: int) -> dict[str, int]:
    cur = await conn.execute(  # type: ignore[attr-defined]
        "SELECT bib, id FROM participants WHERE tenant_id = %s AND event_id = %s",
        (tenant_id, event_id),
    )
    return {bib: pid for bib, pid in await cur.fetchall()}


@pytest.fixture
async def race(pool: AsyncConnectionPool) -> Race:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "spectate-timing", "Spectate")
        event = await catalog.create_event(
            conn, tenant_id=tenant.id, name="Bridge Half", ct_event_id="CT-S", min_finish_s=600
        )
        await catalog.replace_event_locations(
            conn,
            tenant.id,
            event.id,
            [
                EventLocation("START", "start"),
                EventLocation("10K", "split"),
                EventLocation("FINISH", "finish"),
            ],
        )
        await catalog.upsert_participants(
            conn,
            tenant.id,
            event.id,
            [
                ParticipantIn("42", "001187", "Ann", "Lee", "F", 34, "Bergen"),
                ParticipantIn("7", "2305", "Omar", "Khan", "M", 41, "Oslo"),
                ParticipantIn("66", "6666", "<script>alert(1)</script>", "{{7*7}}", "F", 30),
                ParticipantIn("9", "9999", "Gone", "Away", "M", 50),
            ],
        )
        await conn.execute(
            "UPDATE participants SET status = 'cancelled' WHERE bib = '9' AND event_id = %s",
            (event.id,),
        )
        display = await catalog.create_display(
            conn,
            tenant_id=tenant.id,
            event_id=event.id,
            code=new_display_code(),
            name="Finish",
            locations=["FINISH"],
        )
        session = await claimed_session(conn, "sc-s", "Session_S", "CT-S", "Bridge Half")
        await _store(
            conn,
            session.id,
            [
                # A read before the gun is warm-up, not a split.
                ("FINISH", "1187", GUN - timedelta(minutes=5)),
                ("START", "guntime", GUN),
                ("START", "1187", GUN + timedelta(seconds=20)),
                # The course starts on the finish mats: this is a start, not a finish.
                ("FINISH", "1187", GUN + timedelta(seconds=40)),
                ("10K", "1187", GUN + timedelta(minutes=41, seconds=7)),
                ("FINISH", "2305", GUN + timedelta(hours=1, minutes=20)),
                ("FINISH", "001187", GUN + timedelta(hours=1, minutes=29, seconds=3)),
            ],
        )
        ids = await _ids(conn, tenant.id, event.id)
        other = await catalog.create_tenant(conn, "other-spectate", "Other")
        other_event = await catalog.create_event(conn, tenant_id=other.id, name="Elsewhere")
        await catalog.upsert_participants(
            conn, other.id, other_event.id, [ParticipantIn("1", "1", "Secret", "Runner")]
        )
        foreign = (await _ids(conn, other.id, other_event.id))["1"]
    return Race(display.code, ids["42"], ids["7"], ids["66"], ids["9"], foreign)


@pytest.fixture
async def client(db_url: str, race: Race) -> AsyncIterator[Client]:
    async with app_client(db_url) as c:
        yield c


async def test_the_page_shows_the_live_board_without_a_login(client: Client, race: Race) -> None:
    page = await client.get(f"/s/{race.code}")
    assert page.status_code == 200
    assert f'sse-connect="/s/{race.code}/stream?after=' in page.text
    assert "Ann Lee" in page.text and "Omar Khan" in page.text
    assert (await client.get("/s/aaaaaaaa")).status_code == 404


async def test_search_by_bib_or_part_of_a_name(client: Client, race: Race) -> None:
    by_bib = await client.get(f"/s/{race.code}/search", params={"q": "42"})
    assert "Ann" in by_bib.text and "Omar" not in by_bib.text
    by_name = await client.get(f"/s/{race.code}/search", params={"q": "khan"})
    assert "Omar" in by_name.text and "Ann" not in by_name.text
    # LIKE wildcards are text here, and a cancelled registration is not found.
    assert "Nobody" in (await client.get(f"/s/{race.code}/search", params={"q": "%"})).text
    assert "Gone" not in (await client.get(f"/s/{race.code}/search", params={"q": "9"})).text
    hostile = await client.get(f"/s/{race.code}/search", params={"q": "66"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text
    assert "<script>alert(1)" not in hostile.text and "49" not in hostile.text
    assert (await client.get(f"/s/{race.code}/search", params={"q": " "})).text.strip() == ""


async def test_a_runner_card_shows_splits_from_the_gun_and_places(
    client: Client, race: Race
) -> None:
    card = await client.get(f"/s/{race.code}/runners/{race.ann}", headers={"HX-Request": "true"})
    assert card.status_code == 200
    text = card.text
    # START 0:20 after the gun; 10K at 41:07; FINISH only the read after the first 10 minutes.
    assert text.index("START") < text.index("10K") < text.index("FINISH")
    assert "20.0" in text and "41:07.0" in text and "1:29:03.0" in text
    assert "40.0" not in text
    # Omar finished first: Ann is second overall and first woman.
    assert "<strong>2</strong> overall" in text and "<strong>1</strong> of the women" in text
    page = await client.get(f"/s/{race.code}/runners/{race.omar}")
    assert "<!doctype html>" in page.text.lower() and "Omar Khan" in page.text


async def test_runners_outside_the_display_s_event_are_not_found(
    client: Client, race: Race
) -> None:
    for pid in (race.foreign, race.gone):
        r = await client.get(f"/s/{race.code}/runners/{pid}")
        assert r.status_code == 404
        assert "Secret" not in r.text
    hostile = await client.get(f"/s/{race.code}/runners/{race.hostile}")
    assert "&lt;script&gt;" in hostile.text and "{{7*7}}" in hostile.text
