"""The participant pages over HTTP: upload, preview and remap, import in the background with
progress, the error report download, the chip file, and what bad uploads get back."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import AsyncConnectionPool

from app.domain.upload_files import MAX_UPLOAD_BYTES
from tests.integration.tenancy import Client, TenantSeed, app_client, login, seed_tenant
from tests.integration.test_collector import scalar

pytestmark = pytest.mark.timeout(60)

CSV_FILE = (
    "Num,First,Last,Sex,Age,Distance,Tag\n"
    "1,Ana,Ríos,F,30,10K,009573\n"
    "2,Bo,Berg,M,41,5K,7007\n"
    ",Cy,Nobib,X,25,10K,\n"
    "4,Di,Diaz,Q,50,5K,8000\n"
    "5,<script>alert(1)</script>,{{7*7}},F,33,5K,\n"
)


@pytest.fixture
async def web(
    db_url: str, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[Client, TenantSeed, TenantSeed]]:
    mine = await seed_tenant(pool, "field-timing", "Field 10K")
    rival = await seed_tenant(pool, "rival-timing", "Secret Marathon")
    async with app_client(db_url) as c:
        yield c, mine, rival


async def upload(client: Client, event_id: int, token: str, name: str, data: bytes) -> int:
    r = await client.post(
        f"/events/{event_id}/participants/upload",
        files={"file": (name, data, "text/csv")},
        data={"_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.fullmatch(rf"/events/{event_id}/imports/(\d+)", r.headers["location"])
    assert found, r.headers["location"]
    return int(found.group(1))


async def finished(client: Client, url: str) -> str:
    for _ in range(200):
        r = await client.get(f"{url}/status")
        assert r.status_code == 200
        if 'data-state="running"' not in r.text:
            return r.text
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_upload_remap_import_and_download_errors(
    web: tuple[Client, TenantSeed, TenantSeed], pool: AsyncConnectionPool
) -> None:
    client, mine, _ = web
    token = await login(client, mine.email)
    event_id = mine.event.id
    upload_id = await upload(client, event_id, token, "people.csv", CSV_FILE.encode())
    url = f"/events/{event_id}/imports/{upload_id}"

    page = await client.get(url)
    assert page.status_code == 200
    # "Num" says nothing about bibs: the preview asks for the bib column instead of importing.
    assert "choose the column that holds the bib number" in page.text
    assert 'value="import" disabled' in page.text
    assert '<option value="First" selected>' in page.text  # first name was guessed

    sample = await client.get(
        f"{url}/sample",
        params={
            "format": "generic",
            "map_bib": "Num",
            "map_first_name": "First",
            "map_last_name": "Last",
            "map_gender": "Sex",
            "map_age": "Age",
            "map_sub_event": "Distance",
            "map_chip": "Tag",
        },
    )
    assert sample.status_code == 200
    assert "missing bib" in sample.text and "unknown gender" in sample.text
    assert "<script>alert(1)</script>" not in sample.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sample.text

    started = await client.post(
        url,
        data={
            "_csrf_token": token,
            "format": "generic",
            "map_bib": "Num",
            "map_first_name": "First",
            "map_last_name": "Last",
            "map_gender": "Sex",
            "map_age": "Age",
            "map_sub_event": "Distance",
            "map_chip": "Tag",
            "removal": "keep",
            "action": "import",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    report = await finished(client, url)
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', report))
    assert counts == {"added": "3", "updated": "0", "unchanged": "0", "missing": "0", "errors": "2"}
    assert "line" not in counts
    assert (
        await scalar(pool, "SELECT count(*) FROM participants WHERE event_id = %s", event_id) == 3
    )

    download = await client.get(f"{url}/errors.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert 'filename="people-errors.csv"' in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == [
        "line",
        "bib",
        "reason",
        "Num",
        "First",
        "Last",
        "Sex",
        "Age",
        "Distance",
        "Tag",
    ]
    assert [r[:3] for r in rows[1:]] == [["4", "", "missing bib"], ["5", "4", "unknown gender 'Q'"]]

    listing = await client.get(f"/events/{event_id}/participants", params={"q": "ana"})
    assert "Ríos" in listing.text and "Berg" not in listing.text
    everyone = await client.get(f"/events/{event_id}/participants")
    # Names are data: shown as typed, never run as HTML or as a template.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}" in everyone.text
    assert "<script>alert(1)</script>" not in everyone.text

    # The mapping is remembered: the next file of this format comes pre-mapped.
    again = await upload(client, event_id, token, "again.csv", CSV_FILE.encode())
    page = await client.get(f"/events/{event_id}/imports/{again}")
    assert '<option value="Num" selected>' in page.text
    assert 'value="import" disabled' not in page.text


async def test_bad_uploads_get_a_clear_answer(
    web: tuple[Client, TenantSeed, TenantSeed],
) -> None:
    client, mine, rival = web
    token = await login(client, mine.email)
    event_id = mine.event.id
    headers = {"HX-Request": "true"}
    empty = await client.post(
        f"/events/{event_id}/participants/upload",
        files={"file": ("empty.csv", b"", "text/csv")},
        data={"_csrf_token": token},
        headers=headers,
    )
    assert empty.status_code == 400 and "The file is empty." in empty.text
    big = b"Bib\n" + b"1\n" * (MAX_UPLOAD_BYTES // 2 + 65_536)  # past the body limit
    too_big = await client.post(
        f"/events/{event_id}/participants/upload",
        files={"file": ("big.csv", big, "text/csv")},
        data={"_csrf_token": token},
        headers=headers,
    )
    assert too_big.status_code == 413 and "the limit is 25 MB" in too_big.text
    no_csrf = await client.post(
        f"/events/{event_id}/participants/upload",
        files={"file": ("a.csv", b"Bib\n1\n", "text/csv")},
        headers=headers,
    )
    assert no_csrf.status_code == 403
    foreign = await client.post(
        f"/events/{rival.event.id}/participants/upload",
        files={"file": ("a.csv", b"Bib\n1\n", "text/csv")},
        data={"_csrf_token": token},
        headers=headers,
    )
    assert foreign.status_code == 404


async def test_chip_file_upload_reports_lines(
    web: tuple[Client, TenantSeed, TenantSeed], pool: AsyncConnectionPool
) -> None:
    client, mine, _ = web
    token = await login(client, mine.email)
    event_id = mine.event.id
    r = await client.post(
        f"/events/{event_id}/chips",
        files={"file": ("chips.csv", b"Chip,Bib\n009573,42\n7007\n", "text/csv")},
        data={"_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200, r.text
    assert "<strong>1</strong> chip imported" in r.text
    assert "expected a chip and a bib" in r.text
    assert await scalar(pool, "SELECT bib FROM chip_bibs WHERE event_id = %s", event_id) == "42"
