"""The builder in Chromium: a director designs a template (a bound name, an uploaded logo, a
message), puts it on a display, copies the URL; a second browser opens it, a race runs, the
runner's name shows; the director changes the template and the open screen redraws itself.

Screenshots stay in the test's tmp folder (the note of issue 7 shows them)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page

from tests.e2e.conftest import EMAIL, PASSWORD, Platform, Seeded, simulate_lines
from tests.e2e.test_browser import assert_no_csp_violation, browser, watch_csp

__all__ = ["browser"]  # the fixture, shared with test_browser.py

TIMEOUT = 15_000


def _logo() -> bytes:
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, 476, 156), radius=28, fill=(255, 210, 63, 255))
    draw.text((40, 60), "HARBOR 10K", fill=(11, 29, 42, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _designer_apply(page: Page, element: str, fields: dict[str, str]) -> None:
    """Select an element in the list, fill its inspector, apply, wait for the redraw."""
    await page.click(f'.builder-elements a[data-pick="{element}"]')
    await page.wait_for_selector(".inspector [name=x]")
    await page.wait_for_selector(
        f'.builder-geometry [data-el="{element}"][data-selected]', state="attached"
    )
    for name, value in fields.items():
        field = page.locator(f".inspector [name={name}]")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        elif await field.get_attribute("type") == "color":
            await field.evaluate("(e, v) => { e.value = v; }", value)
        else:
            await field.fill(value)
    async with page.expect_response(re.compile(rf"/elements/{element}$")):
        await page.click(".inspector button:has-text('Apply')")


async def test_a_director_designs_a_template_and_an_open_screen_follows_it(
    browser: Browser, platform_single: Platform, seeded: Seeded, tmp_path: Path
) -> None:
    base = platform_single.base_url
    director_ctx = await browser.new_context(viewport={"width": 1600, "height": 1000})
    await director_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    director = await director_ctx.new_page()
    director_csp = await watch_csp(director)
    await director.goto(f"{base}/login")
    await director.fill("input[name=email]", EMAIL)
    await director.fill("input[name=password]", PASSWORD)
    await director.click("button[type=submit]")
    await director.wait_for_selector("text=Harbor 10K", timeout=TIMEOUT)

    # A logo into the image library.
    await director.goto(f"{base}/images")
    await director.set_input_files(
        "input[type=file]",
        files=[{"name": "harbor-logo.png", "mimeType": "image/png", "buffer": _logo()}],
    )
    await director.click("form[action='/images/upload'] button[type=submit]")
    await director.wait_for_selector("text=harbor-logo.png", timeout=TIMEOUT)
    media = await director.locator("#image-library .mono").first.inner_text()
    logo_key = media.rsplit("/", 1)[-1]

    # A message on the event's queue, shown as a ticker.
    await director.goto(f"{base}/events/{seeded.event_id}/messages")
    await director.fill("textarea[name=body]", "Welcome to the Harbor 10K finish!")
    await director.select_option("select[name=style]", "ticker")
    await director.click(".message-form button[type=submit]")
    await director.wait_for_selector("text=Welcome to the Harbor 10K finish!", timeout=TIMEOUT)

    # The template: the starter's bound name field, plus the logo, dragged into place.
    await director.goto(f"{base}/templates/")
    await director.fill("input[name=name]", "Harbor finish TV")
    await director.click("button:has-text('Create template')")
    await director.wait_for_selector(".builder-preview .tpl-canvas", timeout=TIMEOUT)
    template_id = int(await director.get_attribute(".builder[data-template]", "data-template") or 0)
    name_field = director.locator('.builder-preview .tpl-canvas [data-el="name"]')
    assert "Marit Bjørgen-Halvorsen" in await name_field.inner_text()

    await director.select_option("#add-kind", "image")
    async with director.expect_response(re.compile(r"/elements$")):
        await director.click("form[hx-post$='/elements'] button")
    await director.wait_for_selector(".inspector", timeout=TIMEOUT)
    image_id = await director.get_attribute(".builder-geometry [data-selected]", "data-el")
    assert image_id
    await director.locator(".inspector [name=image]").select_option(logo_key)
    async with director.expect_response(re.compile(rf"/elements/{image_id}$")):
        await director.click(".inspector button:has-text('Apply')")
    logo = director.locator(f'.builder-preview .tpl-canvas [data-el="{image_id}"]')
    await logo.locator("img").wait_for(timeout=TIMEOUT)
    box = await logo.bounding_box()
    assert box is not None
    async with director.expect_response(re.compile(rf"/elements/{image_id}$")):
        await director.mouse.move(box["x"] + 10, box["y"] + 10)
        await director.mouse.down()
        await director.mouse.move(box["x"] + 200, box["y"] - 120, steps=6)
        await director.mouse.up()
    geometry = director.locator(f'.builder-geometry [data-el="{image_id}"]')
    await director.wait_for_function(
        "([id, x]) => { const g = document.querySelector("
        '`.builder-geometry [data-el="${id}"]`); return g && +g.dataset.x > x; }',
        arg=[image_id, 700],
        timeout=TIMEOUT,
    )
    assert int(await geometry.get_attribute("data-x") or 0) > 700
    await _designer_apply(director, "name", {"size": "110", "colour": "#ffffff"})
    async with director.expect_response(re.compile(r"/save$")):
        await director.click("button:has-text('Save version 2')")
    await director.wait_for_selector(".builder-state:has-text('version 2')", timeout=TIMEOUT)
    await director.screenshot(path=str(tmp_path / "designer.png"), full_page=True)
    await assert_no_csp_violation(director, director_csp)

    # The display shows the template; its URL is copied from its settings page.
    await director.goto(f"{base}/events/{seeded.event_id}")
    await director.click("a:has-text('Settings')")
    await director.wait_for_selector("#display-template-choice", timeout=TIMEOUT)
    await director.select_option("select[name=template]", str(template_id))
    await director.click("button:has-text('Use this template')")
    await director.wait_for_selector("text=Template chosen", timeout=TIMEOUT)
    await director.click("button.copy-button")
    await director.wait_for_selector(".copy-status:has-text('Copied')", timeout=TIMEOUT)
    url = await director.evaluate("navigator.clipboard.readText()")
    assert url.endswith(f"/d/{seeded.display_code}")

    # A TV in another browser context opens the copied address.
    screen_ctx = await browser.new_context(viewport={"width": 1920, "height": 1080})
    screen = await screen_ctx.new_page()
    screen_csp = await watch_csp(screen)
    await screen.goto(url.replace(url.split("/d/")[0], base))
    await screen.wait_for_selector("[data-link=live] .tpl-canvas", timeout=TIMEOUT)
    await screen.wait_for_selector(f'.tpl-el-{image_id} img[src="/media/{logo_key}"]')
    await screen.wait_for_selector("text=Welcome to the Harbor 10K finish!", timeout=TIMEOUT)
    await screen.evaluate("window.__sameDocument = true")

    await simulate_lines(
        platform_single, tmp_path, ["CT01_33~1~FINISH~1187~08:21:44.90~1~0D4E5F~2"]
    )
    await screen.wait_for_selector(".tpl-runner .tpl-el-name:has-text('Ann Lee')", timeout=TIMEOUT)
    await screen.screenshot(path=str(tmp_path / "screen-1920x1080.png"))

    # The director changes the template: the open screen redraws without a reload.
    await director.goto(f"{base}/templates/{template_id}")
    await director.fill(".builder-side form[hx-post$='/canvas'] [name=background]", "#0f3b2e")
    await director.evaluate(
        "document.querySelector(\"form[hx-post$='/canvas'] [name=background]\").value = '#0f3b2e'"
    )
    async with director.expect_response(re.compile(r"/canvas$")):
        await director.click("form[hx-post$='/canvas'] button")
    async with director.expect_response(re.compile(r"/save$")):
        await director.click("button:has-text('Save version 3')")
    await screen.wait_for_selector(
        f'link[href*="look.css?v={template_id}.3"]', state="attached", timeout=TIMEOUT
    )
    await screen.wait_for_function(
        "getComputedStyle(document.querySelector('.tpl-canvas')).backgroundColor"
        " === 'rgb(15, 59, 46)'",
        timeout=TIMEOUT,
    )
    assert await screen.evaluate("window.__sameDocument === true")
    assert "Ann Lee" in await screen.inner_text(".tpl-runner")
    await screen.screenshot(path=str(tmp_path / "screen-after-change.png"))
    await assert_no_csp_violation(screen, screen_csp)

    # The same display on a phone, and its spectator page (what the QR opens).
    phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844})
    phone = await phone_ctx.new_page()
    await phone.goto(f"{base}/d/{seeded.display_code}")
    await phone.wait_for_selector(".tpl-runner .tpl-el-name:has-text('Ann Lee')")
    await phone.screenshot(path=str(tmp_path / "screen-phone.png"))
    await phone.goto(f"{base}/s/{seeded.display_code}")
    await phone.wait_for_selector("[data-link=live]", timeout=TIMEOUT)
    await phone.fill("#q", "1187")
    await phone.click(".spectator-found a")
    await phone.wait_for_selector(".runner-card:has-text('Ann Lee')", timeout=TIMEOUT)
    await phone.screenshot(path=str(tmp_path / "spectator-phone.png"), full_page=True)
    for ctx in (director_ctx, screen_ctx, phone_ctx):
        await ctx.close()
