"""A timer fills the image library in Chromium: uploads land in the list without a reload, a
refused file says why in place, and a deleted image leaves the list and its address."""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image
from playwright.async_api import Browser, Dialog

from tests.e2e.conftest import EMAIL, PASSWORD, Platform
from tests.e2e.test_browser import assert_no_csp_violation, browser, watch_csp

__all__ = ["browser"]  # the fixture, shared with the other browser tests


def _logo(path: Path) -> None:
    image = Image.new("RGBA", (640, 200), (0, 0, 0, 0))
    image.paste((11, 95, 255, 255), (40, 40, 600, 160))
    image.save(path, "PNG")


async def test_a_timer_uploads_a_logo_sees_a_refusal_and_deletes_it(
    browser: Browser, platform_single: Platform, tmp_path: Path
) -> None:
    logo = tmp_path / "harbor-logo.png"
    _logo(logo)
    drawing = tmp_path / "sponsor.svg"
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    base = platform_single.base_url
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    csp_console = await watch_csp(page)
    await page.goto(f"{base}/login")
    await page.fill("input[name=email]", EMAIL)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Harbor 10K", timeout=5_000)
    await page.click("header >> text=Images")
    await page.wait_for_selector("text=No images yet.", timeout=5_000)

    await page.set_input_files("input[name=file]", str(logo))
    await page.click("button:has-text('Upload')")
    await page.wait_for_selector("#upload-result >> text=Uploaded harbor-logo.png", timeout=10_000)
    # The list came with the answer (htmx, out of band): the thumbnail is there and loads.
    thumb = page.locator("#image-library img.image-thumb")
    await thumb.wait_for(timeout=5_000)
    await page.wait_for_function(
        "document.querySelector('#image-library img.image-thumb').naturalWidth === 640"
    )
    assert "640 × 200" in await page.inner_text("#image-library")  # noqa: RUF001
    src = await thumb.get_attribute("src")
    assert src and src.startswith("/media/")
    await page.screenshot(path=str(tmp_path / "images-uploaded.png"), full_page=True)

    await page.set_input_files("input[name=file]", str(drawing))
    await page.click("button:has-text('Upload')")
    await page.wait_for_selector("#upload-result >> text=SVG is not accepted", timeout=10_000)
    assert await page.locator("#image-library img.image-thumb").count() == 1

    page.once("dialog", _accept)
    await page.click("#image-library button:has-text('Delete')")
    await page.wait_for_selector("#library-message >> text=Deleted harbor-logo.png", timeout=10_000)
    await page.wait_for_selector("#image-library >> text=No images yet.")
    async with httpx.AsyncClient() as client:
        gone = await client.get(f"{base}{src}")
    assert gone.status_code == 404
    await assert_no_csp_violation(page, csp_console)
    await page.close()


async def _accept(dialog: Dialog) -> None:
    assert "Delete harbor-logo.png?" in dialog.message
    await dialog.accept()
