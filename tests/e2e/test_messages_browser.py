"""Messages on a screen in Chromium: the ticker, and a full-screen message between runners."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from app.db.pool import open_pool
from app.services import messages as message_service
from tests.e2e.conftest import Platform, Seeded, simulate_lines
from tests.e2e.test_browser import assert_no_csp_violation, browser, watch_csp

__all__ = ["browser"]  # the fixture, shared with test_browser.py

TIMEOUT = 15_000


async def test_a_full_screen_message_shows_between_runners_and_a_runner_ends_it(
    browser: Browser, platform_single: Platform, seeded: Seeded, db_url: str, tmp_path: Path
) -> None:
    pool = await open_pool(db_url, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            # A short dwell (ms), so the message comes a second after the last runner.
            await conn.execute(
                "UPDATE displays SET display_duration = 1000 WHERE code = %s",
                (seeded.display_code,),
            )
        await message_service.add_message(
            pool, None, seeded.tenant_id, seeded.event_id, body="Water and medals ahead",
            style="ticker",
        )  # fmt: skip
        await message_service.add_message(
            pool, None, seeded.tenant_id, seeded.event_id, body="<b>Well done</b> {{7*7}}",
            style="fullscreen", seconds="3",
        )  # fmt: skip
    finally:
        await pool.close()

    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    csp = await watch_csp(page)
    await page.goto(f"{platform_single.base_url}/d/{seeded.display_code}")
    await page.wait_for_selector("[data-link=live]", timeout=TIMEOUT)
    await page.wait_for_selector(".message-ticker-item:has-text('Water and medals ahead')")
    shown = page.locator(".message-fullscreen.is-showing")
    await shown.wait_for(timeout=TIMEOUT)
    # User text stays text: no <b> element, no template evaluation.
    assert await shown.inner_text() == "<b>Well done</b> {{7*7}}"
    await page.screenshot(path=str(tmp_path / "fullscreen-message.png"))

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2"]
    )
    await page.wait_for_selector("#current :text('Ann Lee')", timeout=TIMEOUT)
    assert await page.locator(".message-fullscreen.is-showing").count() == 0
    await assert_no_csp_violation(page, csp)
    await page.close()
