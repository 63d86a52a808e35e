"""The announcer view in Chromium on a tablet: lists that refresh themselves, a follow list kept
across reloads, the runner card, and no sideways scrolling at 1024 by 768 either way round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Browser, Page

from app.db import catalog, timing
from app.db.pool import open_pool
from app.domain.catalog import EventLocation, ParticipantIn
from tests.e2e.conftest import Platform, Seeded
from tests.e2e.test_browser import assert_no_csp_violation, browser, watch_csp
from tests.integration.test_spectator import _store

__all__ = ["browser"]  # the fixture, shared with test_browser.py

TIMEOUT = 15_000
GUN = datetime(2026, 5, 17, 8, 0, tzinfo=UTC)


def after(minutes: float) -> datetime:
    return GUN + timedelta(minutes=minutes)


async def _seed_race(db_url: str, seeded: Seeded) -> int:
    """Splits, three finishers, two runners out on the course (one a VIP with a birthday);
    returns the session id."""
    pool = await open_pool(db_url, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            tenant_id, event_id = seeded.tenant_id, seeded.event_id
            await catalog.replace_event_locations(
                conn,
                tenant_id,
                event_id,
                [
                    EventLocation("START", "start"),
                    EventLocation("5K", "split"),
                    EventLocation("FINISH", "finish"),
                ],
            )
            await catalog.upsert_participants(
                conn,
                tenant_id,
                event_id,
                [
                    ParticipantIn("31", "3101", "Bea", "Berg", "F", 29, "Tromsø"),
                    ParticipantIn("41", "4101", "Cleo", "Vance", "F", 39, "Bodø", team="Fjord RC"),
                    ParticipantIn("51", "5101", "Dag", "Solberg", "M", 45, "Narvik"),
                    ParticipantIn("61", "6101", "Eli", "Moe", "X", 25, "Alta"),
                ],
            )
            await conn.execute(
                "UPDATE participants SET vip = true, custom = %s::jsonb"
                " WHERE bib = '41' AND event_id = %s",
                ('{"birthday": "Turns 40 today"}', event_id),
            )
            session = await timing.open_session(
                conn,
                provider_identity="sc-announcer",
                session_name="Session_announcer",
                provider_program="SimpleClient",
                provider_version="3.0",
            )
            await timing.claim_session(conn, session.id, "E2E-1", "Harbor 10K")
            reads = [("START", "guntime", GUN)]
            for tag, split, finish in (("1187", 20, 41), ("002305", 22, 45), ("3101", 24, 50)):
                reads += [("5K", tag, after(split)), ("FINISH", tag, after(finish))]
            reads += [("5K", "4101", after(26)), ("5K", "5101", after(27))]
            await _store(conn, session.id, reads)
            return session.id
    finally:
        await pool.close()


async def _no_sideways_scroll(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll}px wide on a {width}px screen"


async def test_an_announcer_follows_runners_on_a_tablet(
    browser: Browser, platform_single: Platform, seeded: Seeded, db_url: str, tmp_path: Path
) -> None:
    session_id = await _seed_race(db_url, seeded)
    context = await browser.new_context(viewport={"width": 1024, "height": 768})
    page = await context.new_page()
    csp = await watch_csp(page)
    await page.goto(f"{platform_single.base_url}/a/{seeded.display_code}")
    coming = page.locator(".list-coming")
    await coming.locator(".ann-row:has-text('Dag Solberg')").wait_for(timeout=TIMEOUT)
    assert "Cleo Vance" in await coming.inner_text()
    followed = page.locator(".list-followed")
    assert "Turns 40 today" in await followed.inner_text()
    projected = page.locator(".list-projected")
    # 5K → finish took 21, 23 and 26 minutes: Cleo (5K at 08:26) is due at 08:49.
    assert "08:49:00" in await projected.inner_text()
    await _no_sideways_scroll(page, 1024)
    await page.screenshot(path=str(tmp_path / "announcer-landscape.png"), full_page=True)

    # Tick Dag: he joins the follow list at once, and stays there after a reload.
    await coming.locator(".ann-row:has-text('Dag Solberg') .follow-toggle").click()
    await followed.locator(".ann-row:has-text('Dag Solberg')").wait_for(timeout=TIMEOUT)
    await page.reload()
    await followed.locator(".ann-row:has-text('Dag Solberg')").wait_for(timeout=TIMEOUT)
    pressed = coming.locator(".ann-row:has-text('Dag Solberg') .follow-toggle")
    assert await pressed.get_attribute("aria-pressed") == "true"

    # A new read at the mat reaches the list by polling, without a reload.
    pool = await open_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn:
            await _store(conn, session_id, [("5K", "6101", after(28))])
    finally:
        await pool.close()
    await coming.locator(".ann-row:has-text('Eli Moe')").wait_for(timeout=TIMEOUT)

    # A tapped runner's card opens above the lists, with their splits.
    await coming.locator(".ann-row:has-text('Cleo Vance') .ann-link").click()
    await page.locator("#card .runner-card:has-text('Cleo Vance')").wait_for(timeout=TIMEOUT)
    assert await page.locator("#card-close").is_visible()

    await page.set_viewport_size({"width": 768, "height": 1024})
    await _no_sideways_scroll(page, 768)
    await page.screenshot(path=str(tmp_path / "announcer-portrait.png"), full_page=True)
    await assert_no_csp_violation(page, csp)
    await context.close()
