"""Debian's Chromium, driven by Playwright: what a timer and a finish-line TV actually see."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import need_service
from tests.e2e.conftest import CT_EVENT_ID, EMAIL, PASSWORD, Platform, Seeded, simulate_lines

CHROMIUM = Path("/usr/bin/chromium")
# Headless flags for a closed network: no background calls home, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat before the browser starts
        need_service("Debian's chromium is not installed (make test installs it)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def test_a_tv_shows_runners_live_and_never_invents_a_name(
    browser: Browser, platform_single: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await page.goto(f"{platform_single.base_url}/d/{seeded.display_code}")
    await page.wait_for_selector("[data-link=live]", timeout=15_000)

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2"]
    )
    await page.wait_for_selector("text=Ann Lee", timeout=15_000)

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~2~FINISH~4242~08:22:01.00~1~0D4E5F~2"]
    )
    await page.wait_for_selector("text=Bib 4242", timeout=15_000)
    await page.screenshot(path=str(tmp_path / "display.png"))

    # A reload shows the same state at once, not a blank screen.
    await page.reload()
    await page.wait_for_selector("text=Bib 4242", timeout=5_000)
    assert "Ann Lee" in await page.inner_text("body")
    await page.close()


async def test_a_timer_logs_in_and_finds_the_display_url(
    browser: Browser, platform_single: Platform, seeded: Seeded
) -> None:
    page = await browser.new_page()
    await page.goto(f"{platform_single.base_url}/events")
    assert "/login" in page.url

    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", "wrong password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=/wrong e-mail or password/i", timeout=5_000)
    assert await page.input_value("input[name=email]") == EMAIL

    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Harbor 10K", timeout=5_000)
    await page.click("text=Harbor 10K")
    await page.wait_for_selector(f'a[href$="/d/{seeded.display_code}"]', timeout=5_000)
    await page.close()


async def test_the_operations_page_turns_red_live_when_a_point_drops(
    browser: Browser, platform_single: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    """No reload: the point appears, then shows disconnected, on the page as it was opened."""
    page = await browser.new_page()
    await page.goto(f"{platform_single.base_url}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Harbor 10K", timeout=5_000)
    await page.goto(f"{platform_single.base_url}/events/{seeded.event_id}/operations")
    await page.wait_for_selector("text=No timing point feeds this event yet", timeout=5_000)
    # Survives only if the page is never reloaded.
    await page.evaluate("document.body.dataset.opened = 'once'")

    capture = tmp_path / "finish.txt"
    capture.write_text("CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2\r\n")
    provider = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "simulate", "--capture", str(capture),
        "--port", str(platform_single.collector_port), "--fast", "--event-id", CT_EVENT_ID,
        "--reconnect", "--linger", "600",
        env=platform_single.env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        point = page.locator("tbody.ops-point")
        await page.wait_for_selector("tbody.ops-point[data-state=ok]", timeout=15_000)
        assert await point.locator("[data-location=FINISH]").inner_text() != ""
        assert "is-alert" not in (await point.get_attribute("class") or "")
    finally:
        provider.terminate()
        await provider.wait()
    await page.wait_for_selector("tbody.ops-point[data-state=disconnected]", timeout=15_000)
    assert "is-alert" in (await point.get_attribute("class") or "")
    assert await page.evaluate("document.body.dataset.opened") == "once"
    await page.screenshot(path=str(tmp_path / "operations.png"))
    await page.close()
