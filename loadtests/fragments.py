"""What the load test's parts share: which runners a display fragment shows, the garbage
collector's setting for the generator, and the writer of docs/benchmarks.md."""

from __future__ import annotations

import gc
import html
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One runner in a fragment: the featured card or a list item names its location, then the
# participant's bib, or "Chip X" for a chip nobody wears.
_RUNNER = re.compile(
    rb'<(?:li|article)[^>]*data-location="([^"]*)"[^>]*>(.*?)</(?:li|article)>', re.S
)
_BIB = re.compile(rb'class="[\w-]*-bib">([^<]+)<')
_CHIP = re.compile(rb'class="[\w-]*-name">(Chip [^<]+)<')


def chip_reader(
    bib_to_chip: dict[str, str], normalize: Callable[[str], str]
) -> Callable[[str], str]:
    """A bib (participant) or 'Chip X' (unknown chip) shown on screen → normalised chip."""

    def chip_of(text: str) -> str:
        text = html.unescape(text).strip()
        if text.startswith("Chip "):
            return normalize(text[5:])
        return bib_to_chip.get(text, normalize(text))

    return chip_of


class Runners:
    """(location, chip) of every runner a fragment shows, parsed once per distinct fragment
    (every screen of a display gets the same bytes)."""

    def __init__(self, chip_of: Callable[[str], str]) -> None:
        self._chip_of = chip_of
        self._parsed: dict[bytes, tuple[tuple[str, str], ...]] = {}

    def __call__(self, fragment: bytes) -> tuple[tuple[str, str], ...]:
        cached = self._parsed.get(fragment)
        if cached is not None:
            return cached
        found: dict[tuple[str, str], None] = {}
        for raw_location, body in _RUNNER.findall(fragment):
            location = html.unescape(raw_location.decode())
            for raw in _BIB.findall(body) + _CHIP.findall(body):
                text = raw.decode()
                if text.strip():
                    found[(location, self._chip_of(text))] = None
        result = tuple(found)
        if len(self._parsed) > 20_000:
            self._parsed.clear()
        self._parsed[fragment] = result
        return result

    def forget(self, fragment: bytes) -> None:
        self._parsed.pop(fragment, None)


def no_full_collections() -> None:
    """The generator's own full collections would count as the platform's latency (one took
    60 ms with 500 screens' sightings to walk). What is loaded by now is never walked again,
    and no full collection runs during a run of minutes: the little cyclic garbage that
    outlives the young generations waits for the process's end."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(gc.get_threshold()[0], 10, 1_000_000)


def benchmarks_report() -> Any:
    """benchmarks/report.py, the one writer of docs/benchmarks.md (loaded by path: this
    folder has a report.py of its own)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
    spec = importlib.util.spec_from_file_location("benchmarks_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
