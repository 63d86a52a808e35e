"""The image library over HTTP: upload, list, serve publicly, limits, quota, delete, tenancy."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from psycopg_pool import AsyncConnectionPool

from app.domain.images import MAX_IMAGE_BYTES
from tests.integration.tenancy import Client, TenantSeed, app_client, login, seed_tenant
from tests.integration.test_collector import scalar

pytestmark = pytest.mark.timeout(60)

HTMX = {"HX-Request": "true"}
_KEY = re.compile(r'src="/media/([A-Za-z0-9_-]{22})"')
_DELETE = re.compile(r'action="/images/(\d+)/delete"')


def png(size: tuple[int, int] = (300, 200), colour: tuple[int, ...] = (0, 90, 200, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """Random pixels: PNG cannot compress them, so the stored size is about 3 bytes a pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def web(
    db_url: str, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[Client, TenantSeed, TenantSeed]]:
    mine = await seed_tenant(pool, "pixel-timing", "Pixel 10K")
    rival = await seed_tenant(pool, "rival-pixels", "Rival Run")
    async with app_client(db_url) as c:
        yield c, mine, rival


async def upload(
    client: Client, token: str, name: str, data: bytes, *, htmx: bool = True
) -> tuple[int, str]:
    r = await client.post(
        "/images/upload",
        files={"file": (name, data, "application/octet-stream")},
        data={"_csrf_token": token},
        headers=HTMX if htmx else {},
        follow_redirects=False,
    )
    return r.status_code, r.text


async def library(client: Client) -> tuple[str, list[str], list[int]]:
    page = await client.get("/images")
    assert page.status_code == 200, page.text
    return page.text, _KEY.findall(page.text), [int(i) for i in _DELETE.findall(page.text)]


async def test_upload_list_and_serve_publicly(
    web: tuple[Client, TenantSeed, TenantSeed], db_url: str, pool: AsyncConnectionPool
) -> None:
    client, mine, _ = web
    token = await login(client, mine.email)
    assert 'href="/images"' in (await client.get("/events")).text

    status, text = await upload(client, token, "C:\\fakepath\\<script>Sponsor Logo.png", png())
    assert status == 200, text
    assert "Uploaded &lt;script&gt;Sponsor Logo.png: 300 × 200, PNG" in text  # noqa: RUF001
    assert 'id="image-library" hx-swap-oob="true"' in text  # the list comes along, out of band

    page, keys, ids = await library(client)
    assert len(keys) == 1 and len(ids) == 1
    assert "&lt;script&gt;Sponsor Logo.png" in page and "<script>Sponsor" not in page
    assert "300 × 200" in page and "of 200 MB used" in page  # noqa: RUF001
    key = keys[0]

    # Anyone with the key gets the image, signed in or not, and no cookie comes with it.
    async with app_client(db_url) as stranger:
        served = await stranger.get(f"/media/{key}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["etag"] == f'"{hashlib.sha256(served.content).hexdigest()}"'
    assert "set-cookie" not in served.headers
    assert Image.open(io.BytesIO(served.content)).size == (300, 200)
    again = await client.get(f"/media/{key}", headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == served.headers["etag"]

    # The same picture again is the one already stored.
    status, text = await upload(client, token, "copy.png", png())
    assert status == 200 and "already in your library as &lt;script&gt;Sponsor Logo.png" in text
    assert await scalar(pool, "SELECT count(*) FROM images") == 1

    # A plain form (no htmx) goes back to the page.
    status, _ = await upload(client, token, "second.png", png(colour=(9, 9, 9, 255)), htmx=False)
    assert status == 303
    assert (await client.get(f"/media/{'A' * 22}")).status_code == 404
    assert (await client.get("/media/not-a-key-at-all-0000000")).status_code == 404
    assert (await client.get("/media/short")).status_code == 404


async def test_a_polyglot_is_refused_with_a_clear_message_and_nothing_stored(
    web: tuple[Client, TenantSeed, TenantSeed],
) -> None:
    client, mine, _ = web
    token = await login(client, mine.email)
    html = b"<html><script>alert(document.cookie)</script></html>"
    status, text = await upload(client, token, "innocent.png", png() + html)
    assert status == 400
    assert "more bytes after its end" in text and "polyglot" in text
    _, keys, _ = await library(client)
    assert keys == []


async def test_bad_uploads_get_a_clear_answer(
    web: tuple[Client, TenantSeed, TenantSeed],
) -> None:
    client, mine, _ = web
    token = await login(client, mine.email)
    status, text = await upload(client, token, "people.csv", b"Bib,Name\n1,Ana\n")
    assert status == 400 and "This file is not a PNG, JPEG, WebP or GIF image." in text
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    status, text = await upload(client, token, "logo.png", svg)
    assert status == 400 and "SVG is not accepted" in text
    # Just over the image limit, inside the body limit: refused by the check.
    status, text = await upload(
        client, token, "huge.png", b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES)
    )
    assert status == 400 and "the limit is 10 MB" in text
    # Far over: refused before the body is read, with the image limit (not the 25 MB of
    # participant files) in the message.
    status, text = await upload(client, token, "huge.png", bytes(MAX_IMAGE_BYTES + 100_000))
    assert status == 413 and "That upload is too large: the limit is 10 MB." in text
    status, text = await upload(
        client, token, "huge.png", bytes(MAX_IMAGE_BYTES + 100_000), htmx=False
    )
    assert status == 413 and "the limit is 10 MB" in text and "<html" in text
    no_file = await client.post("/images/upload", data={"_csrf_token": token}, headers=HTMX)
    assert no_file.status_code == 400 and "Choose an image to upload." in no_file.text
    no_csrf = await client.post(
        "/images/upload", files={"file": ("a.png", png(), "image/png")}, headers=HTMX
    )
    assert no_csrf.status_code == 403
    _, keys, _ = await library(client)
    assert keys == []


async def test_the_quota_refuses_what_does_not_fit(db_url: str, pool: AsyncConnectionPool) -> None:
    mine = await seed_tenant(pool, "tight-timing", "Tight 5K")
    async with app_client(db_url, image_quota_mb=1) as client:
        token = await login(client, mine.email)
        first = noise_png(400)  # about 470 KB stored
        status, text = await upload(client, token, "first.png", first)
        assert status == 200, text
        status, text = await upload(client, token, "second.png", noise_png(400))
        assert status == 200, text
        status, text = await upload(client, token, "third.png", noise_png(400))
        assert status == 400
        assert "Your image library is full:" in text and "of 1 MB is used" in text
        assert "Delete images you no longer use" in text
        page, keys, ids = await library(client)
        assert len(keys) == 2 and "of 1 MB used" in page
        # Room made, the image fits.
        deleted = await client.post(f"/images/{ids[0]}/delete", data={"_csrf_token": token})
        assert deleted.status_code in (200, 303)
        status, text = await upload(client, token, "third.png", noise_png(400))
        assert status == 200, text
    used = await scalar(
        pool, "SELECT sum(byte_size) FROM images WHERE tenant_id = %s", mine.tenant_id
    )
    assert used <= 2**20


async def test_delete_and_another_tenant_cannot_touch_it(
    web: tuple[Client, TenantSeed, TenantSeed], db_url: str, pool: AsyncConnectionPool
) -> None:
    client, mine, rival = web
    token = await login(client, mine.email)
    status, _ = await upload(client, token, "pixel-private-logo.png", png())
    assert status == 200
    _, keys, ids = await library(client)
    key, image_id = keys[0], ids[0]

    async with app_client(db_url) as other:
        other_token = await login(other, rival.email)
        page, other_keys, _ = await library(other)
        assert other_keys == [] and "pixel-private-logo" not in page
        refused = await other.post(
            f"/images/{image_id}/delete", data={"_csrf_token": other_token}, headers=HTMX
        )
        assert refused.status_code == 404 and "pixel-private-logo" not in refused.text
    assert await scalar(pool, "SELECT count(*) FROM images WHERE id = %s", image_id) == 1

    deleted = await client.post(
        f"/images/{image_id}/delete", data={"_csrf_token": token}, headers=HTMX
    )
    assert deleted.status_code == 200
    assert "Deleted pixel-private-logo.png." in deleted.text
    assert 'id="image-library" hx-swap-oob="true"' in deleted.text
    assert "No images yet." in deleted.text
    assert (await client.get(f"/media/{key}")).status_code == 404
    again = await client.post(
        f"/images/{image_id}/delete", data={"_csrf_token": token}, headers=HTMX
    )
    assert again.status_code == 404
    actions = await scalar(
        pool,
        "SELECT array_agg(action ORDER BY id) FROM audit_log WHERE tenant_id = %s"
        " AND action LIKE 'image.%%'",
        mine.tenant_id,
    )
    assert actions == ["image.upload", "image.delete"]
