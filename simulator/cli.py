"""Command-line front of the simulator (`racedisplay simulate`, `python -m simulator`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from app.settings import Settings
from simulator.chaos import ChaosOptions, ClockJump
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

    life = parser.add_argument_group("connection life")
    life.add_argument(
        "--reconnect",
        action="store_true",
        help="when a connection drops, connect again (backoff 0.1-2 s) and resume as asked;"
        " runs until the stream is sent and the linger is over, or SIGTERM/SIGINT",
    )
    life.add_argument(
        "--linger",
        type=_non_negative,
        metavar="S",
        help="after the last read, stay connected S seconds answering pings",
    )

    chaos = parser.add_argument_group("chaos (seeded, per connection)")
    chaos.add_argument("--chaos-seed", type=int, default=0, metavar="N", help="default 0")
    chaos.add_argument(
        "--drop-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="after each read line, drop the connection with probability P (use --reconnect)",
    )
    chaos.add_argument("--split", action="store_true", help="write in random pieces of 1-64 bytes")
    chaos.add_argument(
        "--mixed-eol", action="store_true", help='end read lines with "\\r\\n" or "\\n" at random'
    )
    chaos.add_argument(
        "--garbage-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="before each read line, send a malformed line with probability P",
    )
    chaos.add_argument(
        "--huge-line",
        type=int,
        default=0,
        metavar="BYTES",
        help="once, after the first start, send a line of BYTES bytes",
    )
    chaos.add_argument(
        "--clock-jump",
        type=_clock_jump,
        metavar="SECONDS@SEQ",
        help="add SECONDS to the time of every read with seq >= SEQ",
    )

    who = parser.add_argument_group("provider identity")
    who.add_argument("--program", default=defaults.program)
    who.add_argument("--program-version", default=defaults.version)
    who.add_argument("--event-name", default=defaults.event_name)
    who.add_argument("--event-id", default=defaults.event_id)


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _clock_jump(text: str) -> ClockJump:
    try:
        return ClockJump.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def chaos_from_args(args: argparse.Namespace) -> ChaosOptions | None:
    options = ChaosOptions(
        seed=args.chaos_seed,
        drop_rate=args.drop_rate,
        split=args.split,
        mixed_eol=args.mixed_eol,
        garbage_rate=args.garbage_rate,
        huge_line=max(0, args.huge_line),
        clock_jump=args.clock_jump,
    )
    if options.drop_rate and not args.reconnect:
        log.warning("--drop-rate without --reconnect: each connection ends at its first drop")
    return options if options.active or options.clock_jump else None


@contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`: every connection closes and the run returns."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, _on_signal, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _on_signal(stop: asyncio.Event, signum: signal.Signals) -> None:
    log.info("%s: closing the connections", signum.name)
    stop.set()


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
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        result = await replay(
            host,
            port,
            sources_from_args(args),
            speed=speed,
            max_gap=args.max_gap,
            retime=args.now,
            info=info,
            zone=ZoneInfo(args.timezone or settings.timing_timezone),
            chaos=chaos_from_args(args),
            reconnect=args.reconnect,
            linger=args.linger,
            stop=stop,
        )
    for conn in result.connections:
        log.info("%-28s %s", conn.connection_id, conn.summary())
    log.info(
        "%d reads over %d connections in %.2fs (%.0f reads/s)",
        result.total,
        len(result.connections),
        result.elapsed,
        result.reads_per_second,
    )
    return result
