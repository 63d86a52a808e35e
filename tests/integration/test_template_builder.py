"""The template builder over HTTP: create, edit, drag, save, revert, and a display drawn by it."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.db import templates as template_db
from app.domain.codes import new_display_code
from app.domain.templates import parse_layout
from app.services import images as image_service
from tests.integration.tenancy import Client, TenantSeed, app_client, login, seed_tenant

pytestmark = pytest.mark.timeout(60)

_TEMPLATE = re.compile(r"/templates/(\d+)$")


@pytest.fixture
async def web(
    db_url: str, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[Client, TenantSeed, TenantSeed, str]]:
    mine = await seed_tenant(pool, "canvas-timing", "Canvas 10K")
    rival = await seed_tenant(pool, "rival-canvas", "Rival Run")
    async with app_client(db_url) as c:
        token = await login(c, mine.email)
        yield c, mine, rival, token


async def create(client: Client, token: str, name: str = "Finish TV") -> int:
    r = await client.post(
        "/templates/",
        data={"_csrf_token": token, "name": name, "size": "landscape"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = _TEMPLATE.search(r.headers["location"])
    assert found
    return int(found.group(1))


async def layouts(pool: AsyncConnectionPool, tenant_id: int, template_id: int) -> list[dict]:  # type: ignore[type-arg]
    async with pool.connection() as conn:
        versions = await template_db.list_versions(conn, tenant_id, template_id)
        return [
            await template_db.get_version(conn, tenant_id, template_id, v.version)  # type: ignore[misc]
            for v in sorted(versions, key=lambda v: v.version)
        ]


async def test_every_save_is_a_version_and_every_version_restores_exactly(
    web: tuple[Client, TenantSeed, TenantSeed, str], pool: AsyncConnectionPool
) -> None:
    client, mine, _, token = web
    template_id = await create(client, token)
    page = await client.get(f"/templates/{template_id}")
    assert page.status_code == 200 and "version 1" in page.text

    # Add a text element, edit it through the inspector, drag it, resize it.
    r = await client.post(
        f"/templates/{template_id}/elements", data={"_csrf_token": token, "kind": "text"}
    )
    assert r.status_code == 200
    async with pool.connection() as conn:
        row = await template_db.get_template(conn, mine.tenant_id, template_id)
    assert row is not None
    added = parse_layout(row.draft).elements[-1]
    path = f"/templates/{template_id}/elements/{added.id}"
    r = await client.post(
        path,
        data={"_csrf_token": token, "text": "Go {first_name}!", "size": "72", "colour": "#00ff88"},
    )
    assert r.status_code == 200 and "unsaved changes" in r.text
    await client.post(path, data={"_csrf_token": token, "x": "12", "y": "34"})
    await client.post(path, data={"_csrf_token": token, "w": "900", "h": "120"})
    r = await client.post(
        f"/templates/{template_id}/save", data={"_csrf_token": token, "note": "Big text"}
    )
    assert "version 2" in r.text

    # Bad input is refused with a reason and changes nothing.
    r = await client.post(path, data={"_csrf_token": token, "colour": "red;}body{x:y"})
    assert "colour like #1a2b3c" in r.text
    await client.post(
        f"/templates/{template_id}/elements/{added.id}/delete", data={"_csrf_token": token}
    )
    await client.post(
        f"/templates/{template_id}/canvas", data={"_csrf_token": token, "background": "#ffffff"}
    )
    await client.post(f"/templates/{template_id}/save", data={"_csrf_token": token})

    saved = await layouts(pool, mine.tenant_id, template_id)
    assert len(saved) == 3
    second = parse_layout(saved[1])
    text = second.element(added.id)
    assert text is not None
    assert (text.text, text.size, text.colour, text.x, text.y, text.w, text.h) == (
        "Go {first_name}!",
        72,
        "#00ff88",
        12,
        34,
        900,
        120,
    )
    assert parse_layout(saved[2]).element(added.id) is None

    # Reverting to each version saves it again, byte for byte, as the newest.
    for version in (1, 2, 3):
        r = await client.post(
            f"/templates/{template_id}/versions/{version}/revert", data={"_csrf_token": token}
        )
        assert r.status_code == 200
        now = await layouts(pool, mine.tenant_id, template_id)
        assert now[-1] == saved[version - 1]
        async with pool.connection() as conn:
            row = await template_db.get_template(conn, mine.tenant_id, template_id)
        assert row is not None and row.draft == saved[version - 1]
    versions = await client.get(f"/templates/{template_id}")
    assert "Reverted to version 3" in versions.text


async def test_a_display_is_drawn_by_its_template_and_user_text_stays_inert(
    web: tuple[Client, TenantSeed, TenantSeed, str], pool: AsyncConnectionPool
) -> None:
    client, mine, _, token = web
    template_id = await create(client, token)
    await client.post(
        f"/templates/{template_id}/elements", data={"_csrf_token": token, "kind": "text"}
    )
    async with pool.connection() as conn:
        row = await template_db.get_template(conn, mine.tenant_id, template_id)
        display = await catalog.create_display(
            conn,
            tenant_id=mine.tenant_id,
            event_id=mine.event.id,
            code=new_display_code(),
            name="Finish",
            locations=["FINISH"],
        )
    assert row is not None
    added = parse_layout(row.draft).elements[-1]
    hostile = "<script>alert(1)</script> {{7*7}} {first_name}"
    await client.post(
        f"/templates/{template_id}/elements/{added.id}",
        data={"_csrf_token": token, "text": hostile},
    )
    preview = await client.get(f"/templates/{template_id}")
    assert "<script>alert(1)</script>" not in preview.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}} Marit" in preview.text
    await client.post(f"/templates/{template_id}/save", data={"_csrf_token": token})

    # The preview can draw a display's race instead of the sample runner (own displays only).
    page = await client.get(f"/templates/{template_id}", params={"preview": display.code})
    assert f'<option value="{display.code}" selected>' in page.text
    assert "Marit" not in page.text
    assert "Marit" in (await client.get(f"/templates/{template_id}")).text
    foreign = await client.get(f"/templates/{template_id}", params={"preview": "zzzzzzzz"})
    assert "Marit" in foreign.text

    # Before the display chooses the template it shows the built-in board.
    assert "tpl-canvas" not in (await client.get(f"/d/{display.code}")).text
    r = await client.post(
        f"/events/{mine.event.id}/displays/{display.id}/template",
        data={"_csrf_token": token, "template": str(template_id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = await client.get(f"/d/{display.code}")
    assert "tpl-canvas" in page.text and f"look.css?v={template_id}.2" in page.text
    css = await client.get(f"/d/{display.code}/look.css?v={template_id}.2")
    assert css.headers["content-type"].startswith("text/css")
    assert f".tpl-el-{added.id}{{" in css.text and "max-age" in css.headers["cache-control"]
    # Text naming a runner's fields shows nothing before the first runner.
    assert "{{7*7}}" not in page.text

    # The "also finished" strip, for the runners of a full second: its own list on screen.
    assert '<ol id="also" hidden></ol>' in page.text
    await client.post(
        f"/templates/{template_id}/elements", data={"_csrf_token": token, "kind": "also"}
    )
    await client.post(f"/templates/{template_id}/save", data={"_csrf_token": token})
    page = await client.get(f"/d/{display.code}")
    assert '<ol id="also" class="recent-list">' in page.text
    assert '<ol id="also" hidden></ol>' not in page.text

    # Pinned to version 1 (before the hostile text), the display shows that.
    await client.post(
        f"/events/{mine.event.id}/displays/{display.id}/template",
        data={"_csrf_token": token, "template": f"{template_id}@1"},
    )
    assert f"look.css?v={template_id}.1" in (await client.get(f"/d/{display.code}")).text
    assert '<ol id="also" hidden></ol>' in (await client.get(f"/d/{display.code}")).text


async def test_another_tenants_template_is_not_found(
    web: tuple[Client, TenantSeed, TenantSeed, str], pool: AsyncConnectionPool
) -> None:
    client, mine, rival, token = web
    async with pool.connection() as conn:
        foreign = await template_db.create_template(conn, rival.tenant_id, "Theirs", {})
        await template_db.add_version(conn, rival.tenant_id, foreign, {}, None, "")
        display = await catalog.create_display(
            conn,
            tenant_id=mine.tenant_id,
            event_id=mine.event.id,
            code=new_display_code(),
            name="Finish",
        )
    assert (await client.get(f"/templates/{foreign}")).status_code == 404
    for path in (f"/templates/{foreign}/save", f"/templates/{foreign}/versions/1/revert"):
        assert (await client.post(path, data={"_csrf_token": token})).status_code == 404
    r = await client.post(
        f"/events/{mine.event.id}/displays/{display.id}/template",
        data={"_csrf_token": token, "template": str(foreign)},
    )
    assert r.status_code == 404
    assert "Theirs" not in (await client.get("/templates/")).text


async def test_a_template_a_display_shows_cannot_be_deleted_nor_its_logo(
    web: tuple[Client, TenantSeed, TenantSeed, str], pool: AsyncConnectionPool
) -> None:
    client, mine, _, token = web
    template_id = await create(client, token)
    logo = io.BytesIO()
    Image.new("RGB", (40, 20), (255, 210, 63)).save(logo, "PNG")
    uploaded = await image_service.upload(
        pool, mine.tenant_id, user_id=None, filename="logo.png", data=logo.getvalue(),
        quota_bytes=2**24,
    )  # fmt: skip
    key, image_id = uploaded.image.public_key, uploaded.image.id
    await client.post(
        f"/templates/{template_id}/canvas", data={"_csrf_token": token, "background_image": key}
    )
    # Used by the draft: the image stays.
    r = await client.post(
        f"/images/{image_id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 400 and "Finish TV" in r.text
    assert (await client.get(f"/media/{key}")).status_code == 200

    async with pool.connection() as conn:
        display = await catalog.create_display(
            conn,
            tenant_id=mine.tenant_id,
            event_id=mine.event.id,
            code=new_display_code(),
            name="Finish",
        )
    await client.post(
        f"/events/{mine.event.id}/displays/{display.id}/template",
        data={"_csrf_token": token, "template": str(template_id)},
    )
    r = await client.post(f"/templates/{template_id}/delete", data={"_csrf_token": token})
    assert "1 display shows this template" in r.text
    assert (await client.get(f"/templates/{template_id}")).status_code == 200

    await client.post(
        f"/events/{mine.event.id}/displays/{display.id}/template",
        data={"_csrf_token": token, "template": ""},
    )
    r = await client.post(
        f"/templates/{template_id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith("/templates/")
    assert (await client.get(f"/templates/{template_id}")).status_code == 404
    # Nothing shows the logo any more: now it can go.
    r = await client.post(
        f"/images/{image_id}/delete", data={"_csrf_token": token}, follow_redirects=False
    )
    assert r.status_code in (200, 303)
    assert (await client.get(f"/media/{key}")).status_code == 404
