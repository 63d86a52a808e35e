"""The platform as real subprocesses on loopback, seeded with one tenant's event."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.db import catalog
from app.db.pool import open_pool
from app.domain.catalog import ParticipantIn
from app.domain.codes import new_display_code
from app.services.auth import hash_password
from tests.conftest import free_port

CT_EVENT_ID = "E2E-1"
EMAIL = "timer@e2e.test"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Seeded:
    tenant_id: int
    event_id: int
    display_code: str


@dataclass(frozen=True)
class Platform:
    base_url: str
    collector_port: int
    status_port: int
    env: dict[str, str]


@pytest.fixture
async def seeded(db_url: str) -> Seeded:
    pool = await open_pool(db_url, min_size=1, max_size=2)
    try:
        async with pool.connection() as conn:
            tenant = await catalog.create_tenant(conn, "e2e-timing", "E2E Timing")
            await catalog.create_user(
                conn,
                tenant_id=tenant.id,
                email=EMAIL,
                password_hash=hash_password(PASSWORD),
                role="owner",
            )
            event = await catalog.create_event(
                conn, tenant_id=tenant.id, name="Harbor 10K", ct_event_id=CT_EVENT_ID
            )
            await catalog.upsert_participants(
                conn,
                tenant.id,
                event.id,
                [
                    ParticipantIn("1187", "1187", "Ann", "Lee", "F", 34, "Bergen"),
                    ParticipantIn("2305", "002305", "Omar", "Khan", "M", 41, "Oslo"),
                ],
            )
            display = await catalog.create_display(
                conn,
                tenant_id=tenant.id,
                event_id=event.id,
                code=new_display_code(),
                name="Finish",
                locations=["FINISH"],
            )
    finally:
        await pool.close()
    return Seeded(tenant.id, event.id, display.code)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def start_platform(
    db_url: str, tmp_path: Path, redis_url: str | None, roles: tuple[str, ...]
) -> tuple[Platform, list[subprocess.Popen[bytes]]]:
    http_port, collector_port, status_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "HTTP_PORT": str(http_port),
        "COLLECTOR_PORT": str(collector_port),
        "STATUS_PORT": str(status_port),
        "RACEDISPLAY_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "e2e-secret-key-that-is-long-enough-for-signing-cookies",
        "INGEST_BATCH_MS": "20",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    procs: list[subprocess.Popen[bytes]] = []
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    for role in roles:
        out = (log_dir / f"{role}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", role], env=env, stdout=out, stderr=out
            )
        )
    platform = Platform(f"http://127.0.0.1:{http_port}", collector_port, status_port, env)
    try:
        for role, proc in zip(roles, procs, strict=True):
            if role in ("web", "run"):
                _wait_http(f"{platform.base_url}/health", proc)
            if role in ("collector", "run"):
                _wait_http(f"http://127.0.0.1:{status_port}/health", proc)
    except Exception:
        stop(procs)
        for f in sorted(log_dir.iterdir()):
            sys.stderr.write(f"--- {f.name}\n{f.read_text()}\n")
        raise
    return platform, procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture
def platform_redis(
    db_url: str, redis_url: str, tmp_path: Path, seeded: Seeded
) -> Iterator[Platform]:
    """Collector and web app as two processes talking through Redis."""
    platform, procs = start_platform(db_url, tmp_path, redis_url, ("collector", "web"))
    yield platform
    stop(procs)


@pytest.fixture
def platform_single(db_url: str, tmp_path: Path, seeded: Seeded) -> Iterator[Platform]:
    """App and collector in one process on the in-process bus (the `make run` layout)."""
    platform, procs = start_platform(db_url, tmp_path, None, ("run",))
    yield platform
    stop(procs)


_captures = itertools.count(1)


async def simulate_lines(platform: Platform, directory: Path, lines: list[str]) -> None:
    """Send CT01_33 lines through `racedisplay simulate`, a real provider on a real socket."""
    capture = directory / f"capture-{next(_captures)}.txt"
    capture.write_text("\r\n".join(lines) + "\r\n")
    command = [
        sys.executable, "-m", "app.cli", "simulate", "--capture", str(capture),
        "--port", str(platform.collector_port), "--fast", "--event-id", CT_EVENT_ID,
    ]  # fmt: skip
    await asyncio.to_thread(subprocess.run, command, env=platform.env, check=True, timeout=60)
