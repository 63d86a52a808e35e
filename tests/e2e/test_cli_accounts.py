"""The first-start commands as subprocesses: each prints a link that then works in the app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.db.embedded import start_embedded
from app.settings import Settings
from app.web.factory import create_app
from tests.conftest import REPO

BASE_URL = "https://screens.example.test"
PASSWORD = "first start passphrase"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def racedisplay(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_BASE_URL")
    }
    env.update(
        RACEDISPLAY_DATA_DIR=str(tmp_path / "var"), PUBLIC_BASE_URL=BASE_URL, LOG_LEVEL="WARNING"
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _link(output: str, kind: str) -> str:
    match = re.search(re.escape(BASE_URL) + rf"(/{kind}/[A-Za-z0-9_-]+)\s*$", output, re.M)
    assert match, output
    return match.group(1)


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[Client]:
    settings = Settings(database_url=db_url, secret_key="cli-secret-" + "x" * 40)
    async with AsyncTestClient(app=create_app(settings), base_url="https://testserver.local") as c:
        yield c


async def _set_password(client: Client, path: str, **extra: str) -> str:
    form = await client.get(path)
    assert form.status_code == 200, form.text
    csrf = _CSRF.search(form.text)
    assert csrf
    done = await client.post(
        path,
        data={
            **extra,
            "password": PASSWORD,
            "password_again": PASSWORD,
            "_csrf_token": csrf.group(1),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


async def _login(client: Client, email: str, password: str) -> int:
    page = await client.get("/login")
    csrf = _CSRF.search(page.text)
    assert csrf
    r = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    return r.status_code


async def test_create_tenant_then_reset_link(db_url: str, tmp_path: Path, client: Client) -> None:
    env = _env(tmp_path, db_url)
    made = racedisplay(
        env, "create-tenant", "harbor-timing", "Harbor Timing", "--owner", "olivia@harbor.test"
    )
    assert made.returncode == 0, made.stderr
    assert "Tenant harbor-timing (Harbor Timing) created." in made.stdout
    assert "Send this link to olivia@harbor.test; it works once, for 7 days" in made.stdout
    invite = _link(made.stdout, "invite")
    assert await _set_password(client, invite, display_name="Olivia Owner") == "/events"
    team = await client.get("/team")
    assert team.status_code == 200
    assert "Olivia Owner" in team.text

    again = racedisplay(env, "create-tenant", "harbor-timing", "Other", "--owner", "x@y.test")
    assert again.returncode == 1
    assert "exists already" in again.stderr
    assert "Traceback" not in again.stderr

    reset = racedisplay(env, "reset-link", "OLIVIA@harbor.test")
    assert reset.returncode == 0, reset.stderr
    assert "Send this link to olivia@harbor.test" in reset.stdout
    path = _link(reset.stdout, "reset")
    async with AsyncTestClient(
        app=create_app(Settings(database_url=db_url, secret_key="cli-secret-" + "x" * 40)),
        base_url="https://testserver.local",
    ) as other:
        assert await _set_password(other, path) == "/events"
        assert (await other.get(path)).status_code == 410
        assert await _login(other, "olivia@harbor.test", PASSWORD) == 303

    unknown = racedisplay(env, "reset-link", "nobody@nowhere.test")
    assert unknown.returncode == 1
    assert "There is no account for 'nobody@nowhere.test'" in unknown.stderr


async def test_create_admin_reads_the_password_from_stdin(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    env = _env(tmp_path, db_url)
    short = racedisplay(env, "create-admin", "root@platform.test", "--password-stdin", stdin="x\n")
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr
    made = racedisplay(
        env, "create-admin", "root@platform.test", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    assert "Platform admin root@platform.test created." in made.stdout
    assert PASSWORD not in made.stdout + made.stderr
    assert await _login(client, "root@platform.test", PASSWORD) == 303
    tenants = await client.get("/admin/tenants")
    assert tenants.status_code == 200
    assert "New tenant" in tenants.text
    dup = racedisplay(
        env, "create-admin", "root@platform.test", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert dup.returncode == 1
    assert "exists already" in dup.stderr


async def test_without_database_url_the_embedded_database_is_used(tmp_path: Path) -> None:
    """Like `migrate`: DATABASE_URL unset means the PostgreSQL under RACEDISPLAY_DATA_DIR."""
    env = _env(tmp_path, None)
    made = racedisplay(env, "create-tenant", "fjord-timing", "Fjord Timing", "--owner", "f@f.test")
    assert made.returncode == 0, made.stderr
    invite = _link(made.stdout, "invite")
    # The same folder's server, as the next `racedisplay run` would find it.
    url = start_embedded(tmp_path / "var")
    settings = Settings(database_url=url, secret_key="cli-secret-" + "x" * 40)
    async with AsyncTestClient(app=create_app(settings), base_url="https://testserver.local") as c:
        page = await c.get(invite)
        assert page.status_code == 200
        assert "Join Fjord Timing" in page.text
