"""What the load scenarios need around Locust: a database, a seeded event, the platform running.

Used by loadtests/run.py (`make loadtest`) and loadtests/idle_screens.py, never by the Locust
process itself (it only reads the scenario file these write).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DATA_ROOT = REPO.parent / "shared" / "data" / "chronotrack-2021"
TENANT_SLUG = "loadtest-timing"
EMAIL = "loadtest@racedisplay.local"
PASSWORD = "finish-line-load"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def database_url(data_dir: Path) -> str:
    """DATABASE_URL, else the embedded PostgreSQL under data_dir (alive while we are)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    from app.db.embedded import start_embedded

    return start_embedded(data_dir)


def migrate(url: str) -> None:
    from app.db.migrate import apply_migrations

    apply_migrations(url)


@dataclass(frozen=True, slots=True)
class Seeded:
    event_id: int
    ct_event_id: str
    displays: list[dict[str, Any]]
    # Normalised chip → bib of every participant (a read of any other chip is an unknown chip).
    known: dict[str, str]
    tag_mode: str


def seed(
    url: str,
    *,
    run_id: str,
    tags: Sequence[str],
    display_locations: Sequence[Sequence[str]],
    archive_old: bool = True,
) -> Seeded:
    """A tenant and login (once), then a fresh event per run with participants and displays.

    Earlier load-test events are archived (unless archive_old is False), so the builder pages
    the directors open stay the size of one event; a fresh ChronoTrack event id claims this
    run's provider sessions.
    """
    return asyncio.run(_seed(url, run_id, tags, display_locations, archive_old))


async def _seed(
    url: str,
    run_id: str,
    tags: Sequence[str],
    display_locations: Sequence[Sequence[str]],
    archive_old: bool,
) -> Seeded:
    from app.db import catalog
    from app.db.pool import connection, open_pool
    from app.domain.catalog import EventLocation
    from app.domain.codes import new_display_code
    from app.services.auth import hash_password
    from app.services.demo import demo_participants

    pool = await open_pool(url, 1, 2)
    try:
        async with connection(pool) as conn:
            tenant = await catalog.get_tenant_by_slug(conn, TENANT_SLUG)
            if tenant is None:
                tenant = await catalog.create_tenant(conn, TENANT_SLUG, "Load Test Timing")
                await catalog.create_user(
                    conn,
                    tenant_id=tenant.id,
                    email=EMAIL,
                    password_hash=hash_password(PASSWORD),
                    role="owner",
                    display_name="Load Director",
                )
            for old in await catalog.list_events(conn, tenant.id) if archive_old else []:
                await catalog.set_event_archived(conn, tenant.id, old.id, True)
            ct_event_id = f"LOADTEST-{run_id}"
            event = await catalog.create_event(
                conn,
                tenant_id=tenant.id,
                name=f"Load test {run_id}",
                event_date=date.today(),
                ct_event_id=ct_event_id,
            )
            # The replayed points are finish lines: runners are placed there, and their later
            # reads on the mats are repeats, not new runners.
            points = sorted({p for locations in display_locations for p in locations})
            await catalog.replace_event_locations(
                conn,
                tenant.id,
                event.id,
                [EventLocation(p, "finish", i) for i, p in enumerate(points)],
            )
            people = demo_participants(tags, tag_mode=event.tag_mode)
            await catalog.upsert_participants(conn, tenant.id, event.id, people)
            displays = []
            for i, locations in enumerate(display_locations, start=1):
                d = await catalog.create_display(
                    conn,
                    tenant_id=tenant.id,
                    event_id=event.id,
                    code=new_display_code(),
                    name=f"Screen wall {i}",
                    locations=list(locations),
                )
                displays.append({"code": d.code, "locations": list(d.locations)})
    finally:
        await pool.close()
    known = {p.chip_code: p.bib for p in people if p.chip_code}
    return Seeded(event.id, ct_event_id, displays, known, event.tag_mode)


def start_platform(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`racedisplay run` (one process; collector + web workers when REDIS_URL is set)."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_web(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """One `racedisplay web` process alone (in-process bus unless REDIS_URL)."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "web"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(
    proc: subprocess.Popen[bytes],
    http: tuple[str, int],
    tcp: tuple[str, int] | None = None,
    timeout: float = 90.0,
) -> None:
    """Until the web app answers /login (and the collector accepts connections)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    url = f"http://{http[0]}:{http[1]}/login"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the platform exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                ok = resp.status == 200
        except (OSError, urllib.error.URLError):
            ok = False
        if ok and tcp is not None:
            try:
                socket.create_connection(tcp, timeout=1).close()
            except OSError:
                ok = False
        if ok:
            return
        time.sleep(0.3)
    raise RuntimeError(f"the platform did not come up within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the process group we started, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def process_tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
