"""Debian's Chromium, driven by Playwright: what a timer and a finish-line TV actually see."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

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


# Runs before any page script (and outside the page's CSP) in every document of the page.
_RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


async def watch_csp(page: Page) -> list[str]:
    """Collects CSP violations the page reports, as events and as console errors."""
    console: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            console.append(msg.text)

    page.on("console", on_console)
    await page.add_init_script(_RECORD_CSP_VIOLATIONS)
    return console


async def assert_no_csp_violation(page: Page, console: list[str]) -> None:
    violations = await page.evaluate("window.__cspViolations || []")
    assert violations == [], violations
    assert console == [], console


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
    csp_console = await watch_csp(page)
    await page.goto(f"{platform_single.base_url}/d/{seeded.display_code}")
    await page.wait_for_selector("[data-link=live]", timeout=15_000)

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2"]
    )
    await page.wait_for_selector("text=Ann Lee", timeout=15_000)

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~2~FINISH~4242~08:22:01.00~1~0D4E5F~2"]
    )
    await page.wait_for_selector("text=Chip 4242", timeout=15_000)
    await page.screenshot(path=str(tmp_path / "display.png"))
    await assert_no_csp_violation(page, csp_console)

    # A reload shows the same state at once, not a blank screen.
    await page.reload()
    await page.wait_for_selector("text=Chip 4242", timeout=5_000)
    assert "Ann Lee" in await page.inner_text("body")
    await page.wait_for_selector("[data-link=live]", timeout=15_000)
    await assert_no_csp_violation(page, csp_console)
    await page.close()


async def test_a_polled_screen_shows_live_without_csp_violations(
    browser: Browser, platform_single: Platform, seeded: Seeded
) -> None:
    """The fallback screen (?poll) sets its badge from static/js/display.js, not hx-on."""
    page = await browser.new_page()
    csp_console = await watch_csp(page)
    await page.goto(f"{platform_single.base_url}/d/{seeded.display_code}?poll=1")
    await page.wait_for_selector("[data-link=live]", timeout=15_000)
    await assert_no_csp_violation(page, csp_console)
    await page.close()


async def test_a_timer_logs_in_and_finds_the_display_url(
    browser: Browser, platform_single: Platform, seeded: Seeded
) -> None:
    page = await browser.new_page()
    csp_console = await watch_csp(page)
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
    await assert_no_csp_violation(page, csp_console)

    # Signing out deletes the session: the page behind the login is gone on back/reload.
    await page.click("text=Sign out")
    await page.wait_for_url("**/login", timeout=5_000)
    await page.goto(f"{platform_single.base_url}/events")
    assert "/login" in page.url
    await page.close()


async def test_the_web_process_sends_security_headers_and_no_server_banner(
    platform_redis: Platform, seeded: Seeded
) -> None:
    """A real `racedisplay web` under uvicorn: what any browser or scanner sees."""
    async with httpx.AsyncClient(base_url=platform_redis.base_url) as client:
        for path, ancestors in [
            ("/login", "'none'"),
            ("/health", "'none'"),
            ("/static/js/display.js", "'none'"),
            (f"/d/{seeded.display_code}", "'self'"),
        ]:
            r = await client.get(path)
            assert r.status_code == 200, path
            assert "server" not in r.headers, path
            assert "date" in r.headers
            assert f"frame-ancestors {ancestors}" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"


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


async def test_a_new_owner_joins_by_invitation_and_sees_their_provider_arrive(
    browser: Browser, platform_single: Platform, tmp_path: Path
) -> None:
    """From `racedisplay create-tenant` to a live session on the owner's event, no reload."""
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "create-tenant", "fjord-timing", "Fjord Timing",
         "--owner", "kari@fjord-timing.test"],
        env=platform_single.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    (link,) = [w for w in created.stdout.split() if "/invite/" in w]
    assert link.startswith(platform_single.base_url)

    page = await browser.new_page()
    csp_console = await watch_csp(page)
    await page.goto(link)
    await page.fill("input[name=display_name]", "Kari Nordmann")
    await page.fill("input[name=password]", "fjord finish line 2026")
    await page.fill("input[name=password_again]", "fjord finish line 2026")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{platform_single.base_url}/events", timeout=10_000)

    await page.fill("input[name=name]", "Fjord Half Marathon")
    await page.fill("input[name=ct_event_id]", "FJORD-2026")
    await page.click("text=Create event")
    await page.wait_for_url(re.compile(r".*/events/\d+$"), timeout=10_000)
    await page.wait_for_selector("#sessions", timeout=5_000)
    await page.evaluate("document.body.dataset.opened = 'once'")
    assert "Fjord Half Marathon" in await page.inner_text("h1")

    capture = tmp_path / "fjord.txt"
    capture.write_text("CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2\r\n")
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "simulate", "--capture", str(capture),
         "--port", str(platform_single.collector_port), "--fast", "--event-id", "FJORD-2026"],
        env=platform_single.env, check=True, timeout=60,
    )  # fmt: skip
    # The sessions list refreshes itself (every 5 s): the provider's session shows up there.
    await page.wait_for_selector("#sessions >> text=Session_", timeout=15_000)
    assert await page.evaluate("document.body.dataset.opened") == "once"
    await assert_no_csp_violation(page, csp_console)
    await page.close()
