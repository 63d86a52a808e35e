"""A timer imports a participant file in Chromium: a bad mapping is fixed in the preview, the
import runs with progress, and the counts and the rows with problems are shown."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from tests.e2e.conftest import EMAIL, PASSWORD, Platform, Seeded
from tests.e2e.test_browser import assert_no_csp_violation, browser, watch_csp

__all__ = ["browser"]  # the fixture, shared with the other browser tests

PARTICIPANTS = (
    "Racer No,First Name,Last Name,Gender,Age,Distance,Chip\n"
    "101,Ingrid,Dahl,F,29,10K,0101\n"
    "102,Lars,Moe,M,44,10K,0102\n"
    ",Nora,Nobib,F,31,5K,0103\n"
    "104,Per,Quux,Z,50,5K,0104\n"
    "105,Sofie,Lund,F,38,5K,0105\n"
    "1187,Ann,Lee,F,35,10K,1187\n"
)


async def test_a_timer_fixes_the_mapping_and_imports_a_file_with_bad_rows(
    browser: Browser, platform_single: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    csv_path = tmp_path / "registrations.csv"
    csv_path.write_text(PARTICIPANTS)
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    csp_console = await watch_csp(page)
    await page.goto(f"{platform_single.base_url}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Harbor 10K", timeout=5_000)
    await page.goto(f"{platform_single.base_url}/events/{seeded.event_id}/participants")

    await page.set_input_files("input[name=file] >> nth=0", str(csv_path))
    await page.click("text=Upload and preview")
    await page.wait_for_selector("text=Import registrations.csv", timeout=5_000)
    # "Racer No" is not a name the importer knows for a bib: it says so and will not import.
    await page.wait_for_selector("text=choose the column that holds the bib number")
    assert await page.is_disabled("button[value=import]")

    await page.select_option("select[name=map_bib]", "Racer No")
    # The preview re-reads the first rows through the new mapping (htmx, no reload).
    await page.wait_for_selector("tr.sample-error >> text=missing bib", timeout=5_000)
    await page.wait_for_selector("text=unknown gender 'Z'")
    assert await page.is_enabled("button[value=import]")
    await page.screenshot(path=str(tmp_path / "import-preview.png"), full_page=True)

    await page.click("button[value=import]")
    await page.wait_for_selector("#import-status[data-state=done]", timeout=15_000)
    counts = {
        key: await page.inner_text(f"[data-count={key}]")
        for key in ("added", "updated", "unchanged", "missing", "errors")
    }
    # Ann Lee (bib 1187) was there already with the same details except her age.
    assert counts == {"added": "3", "updated": "1", "unchanged": "0", "missing": "1", "errors": "2"}
    errors = await page.inner_text("table.import-errors")
    assert "missing bib" in errors and "unknown gender 'Z'" in errors
    link = page.locator("a[href$='/errors.csv']")
    assert "2 rows with problems" in await link.inner_text()
    await page.screenshot(path=str(tmp_path / "import-result.png"), full_page=True)

    await page.goto(f"{platform_single.base_url}/events/{seeded.event_id}/participants")
    assert await page.inner_text(".participant-count") == "5"
    await assert_no_csp_violation(page, csp_console)
    await page.close()
