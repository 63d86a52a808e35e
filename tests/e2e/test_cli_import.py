"""`racedisplay import chips|participants` as a subprocess against a real PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.catalog import ParticipantIn
from tests.e2e.test_cli_accounts import racedisplay


async def test_a_chip_file_from_the_shell_lands_and_reports_its_bad_lines(
    db_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "shell-timing", "Shell Timing")
        event = await catalog.create_event(conn, tenant_id=tenant.id, name="Shell 5K")
        other = await catalog.create_tenant(conn, "other-timing", "Other Timing")
        await catalog.upsert_participants(
            conn, tenant.id, event.id, [ParticipantIn("42", "", "Ann", "Lee")]
        )
    chips = tmp_path / "chips.csv"
    chips.write_text("\ufeffChip;Bib\n009573;42\n1234\n7777;77\n", encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": db_url, "RACEDISPLAY_DATA_DIR": str(tmp_path)}

    done = racedisplay(env, "import", "chips", str(chips), "--tenant", "shell-timing",
                       "--event", str(event.id))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 chip-to-bib pairs imported" in done.stdout
    assert f"{chips}:3: expected a chip and a bib" in done.stderr
    async with pool.connection() as conn:
        found = await catalog.participants_by_chip(conn, tenant.id, event.id, ["9573", "7777"])
    assert {chip: p.full_name for chip, p in found.items()} == {"9573": "Ann Lee"}

    # Another tenant's event, an unknown tenant, a missing file: refused, nothing written.
    for args, message in (
        (("--tenant", other.slug, "--event", str(event.id)), "No such event"),
        (("--tenant", "nobody", "--event", str(event.id)), "no tenant 'nobody'"),
    ):
        refused = racedisplay(env, "import", "chips", str(chips), *args)
        assert refused.returncode == 1 and message in refused.stderr
    missing = racedisplay(env, "import", "chips", str(tmp_path / "nope.csv"), "--tenant",
                          "shell-timing", "--event", str(event.id))  # fmt: skip
    assert missing.returncode == 1 and "nope.csv" in missing.stderr


async def test_a_participant_file_from_the_shell_with_a_mapping_and_a_progress_bar(
    db_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, "shell-timing", "Shell Timing")
        event = await catalog.create_event(conn, tenant_id=tenant.id, name="Shell 5K")
    people = tmp_path / "people.csv"
    people.write_text(
        "Racer No,First Name,Last Name,Gender,Chip\n"
        "1,Ann,Lee,F,009573\n"
        ",No,Bib,M,7007\n"
        "3,Omar,Khan,M,7008\n",
        encoding="utf-8",
    )
    env = {**os.environ, "DATABASE_URL": db_url, "RACEDISPLAY_DATA_DIR": str(tmp_path)}
    base = ("import", "participants", str(people), "--tenant", "shell-timing",
            "--event", str(event.id))  # fmt: skip

    unmapped = racedisplay(env, *base)
    assert unmapped.returncode == 1
    assert "choose the column that holds the bib number" in unmapped.stderr

    checked = racedisplay(env, *base, "--map", "bib=Racer No", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "Checked (nothing changed): 2 added" in checked.stdout
    async with pool.connection() as conn:
        assert await catalog.count_participants(conn, tenant.id, event.id) == 0

    done = racedisplay(env, *base, "--map", "bib=Racer No")
    assert done.returncode == 0, done.stderr
    assert "Imported: 2 added, 0 updated, 0 unchanged" in done.stdout
    assert "1 row(s) with problems" in done.stdout
    assert f"{people}:3: missing bib" in done.stderr
    assert "[##############################] 100% 3/3 rows" in done.stderr
    async with pool.connection() as conn:
        found = await catalog.participants_by_chip(conn, tenant.id, event.id, ["9573", "7008"])
    assert {chip: p.full_name for chip, p in found.items()} == {
        "9573": "Ann Lee",
        "7008": "Omar Khan",
    }
    # The mapping is remembered for this tenant and format: no --map needed the next time.
    again = racedisplay(env, *base)
    assert again.returncode == 0, again.stderr
    assert "0 added, 0 updated, 2 unchanged" in again.stdout
