"""`racedisplay`: the one command that migrates, seeds, runs and simulates."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import psycopg

from app.heap import freeze_startup_heap
from app.settings import Settings

if TYPE_CHECKING:
    from app.db.pool import Pool

log = logging.getLogger("racedisplay")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEMO_DATA = REPO.parent / "shared" / "data" / "chronotrack-2021"


def resolve_database(settings: Settings) -> Settings:
    """With no DATABASE_URL, start the embedded PostgreSQL and point the settings at it."""
    if settings.database_url:
        return settings
    from app.db.embedded import start_embedded

    return replace(settings, database_url=start_embedded(settings.data_dir))


def _migrate(settings: Settings) -> None:
    from app.db.migrate import apply_migrations

    assert settings.database_url
    applied = apply_migrations(settings.database_url)
    log.info("migrations applied: %s", applied or "none pending")


def _serve(main: Coroutine[object, object, None]) -> None:
    """Runs a server role (web, collector, both) on uvloop: its socket writes and wake-ups
    cost a fraction of asyncio's own loop, and a web worker does one per screen per batch."""
    import uvloop

    uvloop.run(main)


def _uvicorn_server(settings: Settings, app: object) -> object:
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=5,
        # Longer than a proxy's idle upstream connections (nginx: 60 s) and a browser's idle
        # gaps: with uvicorn's 5 s, a client reusing a connection just as the server closed
        # it saw a failed request.
        timeout_keep_alive=75,
    )
    return uvicorn.Server(config)


async def _run_all_in_one(settings: Settings, demo: bool) -> None:
    """App, collector and (for the demo) a simulated race in one process on one bus."""
    from app.db.pool import open_pool
    from app.pubsub import create_bus
    from app.web.factory import create_app
    from collector.server import Collector

    assert settings.database_url
    pool = await open_pool(settings.database_url, settings.db_pool_min, settings.db_pool_max)
    bus = create_bus(settings.redis_url)
    collector = Collector(settings, pool, bus)
    await collector.start()
    server = _uvicorn_server(settings, create_app(settings, pool=pool, bus=bus))
    freeze_startup_heap()
    demo_task: asyncio.Task[None] | None = None
    try:
        if demo:
            demo_task = asyncio.create_task(_demo(settings, pool, collector.tcp_port))
        await server.serve()  # type: ignore[attr-defined]
    finally:
        if demo_task is not None:
            demo_task.cancel()
        await collector.stop()
        await bus.close()
        await pool.close()


async def _demo(settings: Settings, pool: object, collector_port: int) -> None:
    from app.services.demo import seed_demo
    from simulator.demo import demo_race

    race = demo_race(DEFAULT_DEMO_DATA)
    info = await seed_demo(pool, race.tags, race.locations)  # type: ignore[arg-type]
    lines = [
        "",
        "RaceDisplay demo is running.",
        f"  Builder:  {settings.base_url}/login   ({info.email} / {info.password})",
    ]
    for display in info.displays:
        lines.append(f"  Display:  {settings.base_url}/d/{display.code}   ({display.name})")
    lines.append(f"  Race:     {race.description}; {info.participants} demo participants")
    lines.append("")
    print("\n".join(lines), flush=True)
    # The simulated provider sends wall-clock times in the zone the collector reads them in.
    await race.run("127.0.0.1", collector_port, ZoneInfo(settings.timing_timezone))
    log.info("demo race finished; restart `make run` to see live arrivals again")


def _run_separate(settings: Settings) -> int:
    """With Redis configured: one collector and WEB_WORKERS web processes on one port."""
    env = dict(os.environ, DATABASE_URL=settings.database_url or "")
    roles = ["collector", *["web"] * settings.web_workers]
    procs = [subprocess.Popen([sys.executable, "-m", "app.cli", role], env=env) for role in roles]

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [p.wait() for p in procs]
    return max(codes)


def shared_listener(host: str, port: int) -> socket.socket:
    """A listening socket other web processes can bind too (SO_REUSEPORT): the kernel spreads
    connections across them, so workers start, stop and restart behind one address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


async def _run_web(settings: Settings) -> None:
    from app.web.factory import create_app

    sock = shared_listener(settings.http_host, settings.http_port)
    server = _uvicorn_server(settings, create_app(settings))
    freeze_startup_heap()
    await server.serve(sockets=[sock])  # type: ignore[attr-defined]


def _read_password(from_stdin: bool) -> str:
    """From one line of stdin (scripts), else asked twice at the terminal, never echoed."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("The same password again: ") != first:
        raise SystemExit("The two passwords differ; nothing was created.")
    return first


async def _accounts_command(settings: Settings, args: argparse.Namespace) -> int:
    """create-admin, create-tenant and reset-link: one short-lived pool, messages on stdout."""
    from app.db.pool import open_pool
    from app.domain.errors import AppError
    from app.services import accounts

    assert settings.database_url
    password = _read_password(args.password_stdin) if args.command == "create-admin" else ""
    pool = await open_pool(settings.database_url, 1, 2)
    try:
        if args.command == "create-admin":
            user = await accounts.create_platform_admin(pool, args.email, password)
            print(f"Platform admin {user.email} created. Sign in at {settings.base_url}/login")
        elif args.command == "create-tenant":
            tenant, issued = await accounts.create_tenant(
                pool, None, slug=args.slug, name=args.name, owner_email=args.owner
            )
            link = settings.base_url + accounts.invitation_path(issued.token)
            print(f"Tenant {tenant.slug} ({tenant.name}) created.")
            print(f"Send this link to {issued.invitation.email}; it works once, for 7 days:")
            print(link)
        else:
            reset = await accounts.reset_link_for_email(pool, args.email)
            link = settings.base_url + accounts.reset_path(reset.token)
            print(f"Send this link to {reset.user.email}; it sets a new password once,")
            print("within 24 hours, and earlier reset links stop working:")
            print(link)
    except AppError as exc:
        print(f"racedisplay {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    return 0


async def _import_command(settings: Settings, args: argparse.Namespace) -> int:
    """`import participants|chips FILE`: valid rows land, each bad one is reported by line."""
    from app.db import catalog
    from app.db.pool import connection, open_pool
    from app.domain.errors import AppError

    assert settings.database_url
    pool = await open_pool(settings.database_url, 1, 3)
    try:
        async with connection(pool) as conn:
            tenant = await catalog.get_tenant_by_slug(conn, args.tenant)
        if tenant is None:
            print(f"racedisplay import: no tenant {args.tenant!r}", file=sys.stderr)
            return 1
        if args.kind == "chips":
            return await _import_chips(pool, tenant.id, args)
        return await _import_participants(pool, tenant.id, args)
    except (AppError, OSError, UnicodeDecodeError) as exc:
        print(f"racedisplay import: {exc}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


async def _import_chips(pool: Pool, tenant_id: int, args: argparse.Namespace) -> int:
    from app.services.chip_files import import_chip_file

    with args.file.open(encoding="utf-8-sig", newline="") as lines:
        report = await import_chip_file(pool, tenant_id, args.event, lines)
    print(f"{report.imported} chip-to-bib pairs imported into event {args.event}.")
    for error in report.errors:
        print(f"{args.file}:{error.row}: {error.reason}", file=sys.stderr)
    if report.errors:
        print(f"{len(report.errors)} line(s) skipped; fix them and import the file again.")
    return 0


def _parse_maps(pairs: list[str]) -> dict[str, str]:
    from app.domain.errors import InvalidInput

    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--map {pair!r}: write FIELD=COLUMN, e.g. bib='Racer No'")
        mapping[field.strip()] = column.strip()
    return mapping


async def _import_participants(pool: Pool, tenant_id: int, args: argparse.Namespace) -> int:
    """The same path as the web page: upload, the guessed (or remembered) mapping with any
    --map overrides, then the import with a progress bar on stderr."""
    from app.services import participant_imports as imports

    upload = await imports.create_upload(
        pool,
        tenant_id,
        args.event,
        user_id=None,
        filename=args.file.name,
        data=args.file.read_bytes(),
    )
    format = args.format or upload.format
    mapping = dict(upload.mapping)
    if args.format and args.format != upload.format:
        mapping = (
            await imports.preview(pool, tenant_id, args.event, upload.id, format=format)
        ).mapping
    mapping.update(_parse_maps(args.map))
    shown = ", ".join(f"{field}={column!r}" for field, column in mapping.items() if column)
    print(f"{args.file}: {upload.total_lines - 1} lines, format {format}; columns: {shown}")
    await imports.start_import(
        pool,
        tenant_id,
        args.event,
        upload.id,
        format=format,
        mapping=mapping,
        removal="delete" if args.delete_missing else "keep",
        dry_run=args.check,
    )
    total = max(upload.total_lines - 1, 1)

    async def progress(rows: int) -> None:
        _progress_bar(rows, total)

    done = await imports.run_import(pool, tenant_id, args.event, upload.id, progress)
    _progress_bar(total, total)
    print(file=sys.stderr)
    counts = done.counts or {}
    missing = "removed" if args.delete_missing else "not in the file (kept)"
    verb = "Checked (nothing changed)" if args.check else "Imported"
    print(
        f"{verb}: {counts.get('added', 0)} added, {counts.get('updated', 0)} updated, "
        f"{counts.get('unchanged', 0)} unchanged, {counts.get('missing', 0)} {missing}, "
        f"{done.error_count} row(s) with problems."
    )
    if done.error_count:
        _, report = await imports.error_report(pool, tenant_id, args.event, upload.id)
        for line, bib, reason, *_cells in imports.first_errors(report, limit=done.error_count):
            print(
                f"{args.file}:{line}: {reason}" + (f" (bib {bib})" if bib else ""), file=sys.stderr
            )
    return 0


def _progress_bar(rows: int, total: int, width: int = 30) -> None:
    share = min(rows / total, 1.0)
    filled = round(share * width)
    bar = "#" * filled + "-" * (width - filled)
    end = "\r" if sys.stderr.isatty() else "\n"
    print(f"[{bar}] {share:4.0%} {rows:,}/{total:,} rows", end=end, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="racedisplay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the platform (app + collector)")
    run.add_argument("--demo", action="store_true", help="seed the demo and start a simulated race")
    sub.add_parser("web", help="run only the web app")
    sub.add_parser("collector", help="run only the CTP01 collector")
    sub.add_parser("migrate", help="apply pending database migrations")
    admin = sub.add_parser("create-admin", help="create a platform admin (above all tenants)")
    admin.add_argument("email")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    tenant = sub.add_parser(
        "create-tenant", help="create a tenant and print its first owner's invitation link"
    )
    tenant.add_argument("slug", help="short name: lower-case letters, digits, dashes")
    tenant.add_argument("name", help="the timing company's name as its users see it")
    tenant.add_argument("--owner", required=True, metavar="EMAIL", help="the first owner's e-mail")
    reset = sub.add_parser("reset-link", help="print a one-time password reset link for a user")
    reset.add_argument("email")
    imports = sub.add_parser("import", help="import participants or a chip file into an event")
    imports.add_argument(
        "kind",
        choices=["participants", "chips"],
        help="participants: a CSV or XLSX registration file; chips: a chip,bib file",
    )
    imports.add_argument("file", type=Path)
    imports.add_argument("--tenant", required=True, metavar="SLUG", help="the event's tenant")
    imports.add_argument("--event", required=True, type=int, metavar="ID", help="the event id")
    imports.add_argument(
        "--format",
        choices=["runsignup", "ultrasignup", "active", "raceroster", "generic"],
        help="the export format (default: detected from the columns)",
    )
    imports.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="map a column by hand, e.g. --map bib='Racer No'; FIELD= leaves a field unmapped",
    )
    imports.add_argument(
        "--delete-missing",
        action="store_true",
        help="delete the event's participants that are not in the file",
    )
    imports.add_argument(
        "--check", action="store_true", help="report what the import would do; change nothing"
    )
    sim = sub.add_parser("simulate", help="act as a CTP01 provider (SimpleClient) and replay reads")
    from simulator.cli import add_arguments, run_from_args

    add_arguments(sim)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "simulate":
        asyncio.run(run_from_args(args))
        return 0

    settings = resolve_database(settings.with_secret())
    if args.command == "collector":
        from collector.server import run_collector

        try:
            _migrate(settings)
        except psycopg.OperationalError as exc:
            # A restart during a database outage: take reads into the spool meanwhile.
            log.warning("database unreachable (%s); the collector starts anyway", exc)

        _serve(run_collector(settings))
        return 0
    _migrate(settings)
    if args.command == "migrate":
        return 0
    if args.command in ("create-admin", "create-tenant", "reset-link"):
        return asyncio.run(_accounts_command(settings, args))
    if args.command == "import":
        return asyncio.run(_import_command(settings, args))
    if args.command == "web":
        _serve(_run_web(settings))
        return 0
    if settings.redis_url and not args.demo:
        return _run_separate(settings)
    _serve(_run_all_in_one(settings, demo=args.demo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
