"""A chip nobody has, read from a real CTP01 socket: counted for the operator, shown as a chip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.db import catalog
from app.domain.codes import new_display_code

pytest.importorskip("ct_parser", reason="the Rust parser is not built (make)")

from psycopg_pool import AsyncConnectionPool

from tests.integration.test_operations_page import (
    _CSRF,
    Point,
    Seed,
    _fragment,
    cells,
    point_block,
    rig,
    seed,  # noqa: F401 (a fixture)
    until,
)

pytestmark = pytest.mark.timeout(60)


async def test_an_unknown_chip_is_counted_and_shown_as_its_chip_code(
    db_url: str,
    tmp_path: Path,
    seed: Seed,  # noqa: F811 (the fixture imported above)
    pool: AsyncConnectionPool,
) -> None:
    async with pool.connection() as conn:
        display = await catalog.create_display(
            conn,
            tenant_id=seed.tenant_id,
            event_id=seed.event_id,
            code=new_display_code(),
            name="Finish line",
        )
    async with rig(db_url, tmp_path) as r:
        finish = await Point.join(r.tcp_port, "harbor-finish", "OPS-A")
        # 1187 is Ann's chip; 4242 is on nobody's list, and 004242 is the same chip.
        finish.reads("1187", "4242", "004242")
        await finish.round_trip()

        async def counted() -> str | None:
            block = point_block(await _fragment(r.client, seed.event_id), "harbor-finish")
            return block if block and cells(block, "FINISH")[6] == "1" else None

        block = await until(counted, what="the unknown chip counted")
        # Reads, distinct chips, unknown chips.
        assert cells(block, "FINISH")[4:7] == ["3", "2", "1"]

        async def board() -> str | None:
            text = (await r.client.get(f"/d/{display.code}/feed")).text
            return text if "Chip 4242" in text and "Ann Lee" in text else None

        text = await until(board, what="both runners on the display")
        # The chip code as read, never presented as a bib or under a name.
        assert "Bib 4242" not in text and ">4242<" not in text
        unknown = re.search(r'<li class="recent-item recent-unknown".*?</li>', text)
        assert unknown and '<span class="recent-bib"></span>' in unknown.group(0)

        # The timer hides unknown chips: the same display now shows Ann only.
        page = await r.client.get(f"/events/{seed.event_id}")
        token = _CSRF.search(page.text)
        assert token
        hidden = await r.client.post(
            f"/events/{seed.event_id}/displays/{display.id}/unknown-chips",
            data={"show_unknown": "0", "_csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert hidden.status_code == 303
        text = (await r.client.get(f"/d/{display.code}/feed")).text
        assert "Ann Lee" in text and "4242" not in text
        finish.close()
