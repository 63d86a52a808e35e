"""Command-line front of the simulator (`racedisplay simulate`, `python -m simulator`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from app.settings import Settings
from simulator.client import ProviderInfo
from simulator.replay import SimulationResult, replay
from simulator.sources import Capture, ControllerFiles, Source, SyntheticRace

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chronotrack-2021"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ProviderInfo()
    parser.add_argument("--host", help="collector host (default: COLLECTOR_HOST or 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="collector port (default: COLLECTOR_PORT or 61611)"
    )

    src = parser.add_argument_group("what to replay (default: the real 2021 files when present)")
    src.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="ChronoTrack controller files: one connection per timing point (subfolder)",
    )
    src.add_argument(
        "--points", metavar="P1,P2", help="only these timing points of --data (folder names)"
    )
    src.add_argument(
        "--guntimes", action="store_true", help="send the .mrk Gun markers as guntime reads"
    )
    src.add_argument(
        "--capture",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a file of CT01_33 lines, one connection (repeatable)",
    )
    src.add_argument("--synthetic", type=int, metavar="N", help="a synthetic race of N runners")
    src.add_argument("--seed", type=int, default=1, help="seed of the synthetic race")

    pace = parser.add_argument_group("speed (default: --realtime)")
    speed = pace.add_mutually_exclusive_group()
    speed.add_argument("--speed", type=float, metavar="X", help="X times real time")
    speed.add_argument("--realtime", action="store_true", help="real time (--speed 1)")
    speed.add_argument("--fast", action="store_true", help="as fast as the collector takes them")
    pace.add_argument(
        "--max-gap", type=float, metavar="S", help="compress silences longer than S seconds to S"
    )
    pace.add_argument(
        "--now",
        action="store_true",
        help="stamp reads with the replay's own time instead of the recorded one",
    )

    pace.add_argument(
        "--timezone",
        metavar="ZONE",
        help="zone of the iso/normal time fields (default: TIMING_TIMEZONE or UTC)",
    )

    who = parser.add_argument_group("provider identity")
    who.add_argument("--program", default=defaults.program)
    who.add_argument("--program-version", default=defaults.version)
    who.add_argument("--event-name", default=defaults.event_name)
    who.add_argument("--event-id", default=defaults.event_id)


def sources_from_args(args: argparse.Namespace) -> list[Source]:
    sources: list[Source] = []
    points = tuple(p for p in args.points.split(",") if p) if args.points else None
    if args.data is not None:
        sources.append(ControllerFiles(args.data, points=points, guntimes=args.guntimes))
    sources.extend(Capture(path) for path in args.capture)
    if args.synthetic:
        sources.append(SyntheticRace(args.synthetic, seed=args.seed))
    if not sources:
        if DEFAULT_DATA.is_dir():
            sources.append(ControllerFiles(DEFAULT_DATA, points=points, guntimes=args.guntimes))
        else:
            log.info("no real data at %s; replaying a synthetic race", DEFAULT_DATA)
            sources.append(SyntheticRace(500, seed=args.seed))
    return sources


async def run_from_args(args: argparse.Namespace) -> SimulationResult:
    settings = Settings.from_env()
    host = args.host or settings.collector_host
    port = args.port or settings.collector_port
    speed = None if args.fast else 1.0 if args.realtime else (args.speed or 1.0)
    info = ProviderInfo(
        program=args.program,
        version=args.program_version,
        event_name=args.event_name,
        event_id=args.event_id,
    )
    result = await replay(
        host,
        port,
        sources_from_args(args),
        speed=speed,
        max_gap=args.max_gap,
        retime=args.now,
        info=info,
        zone=ZoneInfo(args.timezone or settings.timing_timezone),
    )
    for conn in result.connections:
        state = f"error: {conn.error}" if conn.error else "ok"
        log.info("%-28s %7d reads  %s", conn.connection_id, conn.reads_sent, state)
    log.info(
        "%d reads over %d connections in %.2fs (%.0f reads/s)",
        result.total,
        len(result.connections),
        result.elapsed,
        result.reads_per_second,
    )
    return result
