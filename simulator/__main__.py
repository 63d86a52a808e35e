"""`python -m simulator`: replay reads into a collector."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from simulator.cli import add_arguments, run_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = asyncio.run(run_from_args(args))
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
