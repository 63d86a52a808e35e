"""A timer's chip file: which chip hangs on which bib, one pair a line.

Timers keep these apart from registrations (chips are handed out at packet pick-up, or are
bib-coded). Columns are chip then bib unless a header names them the other way round; a
comma, semicolon or tab separates them. Chips are normalised like every read's tag, under the
event's tag mode.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.domain.participants_in import RowError
from app.domain.reads import STRIP_ZEROS, normalize_tag

_CHIP_HEADERS = frozenset({"chip", "chip code", "chipcode", "chip_code", "tag", "tag code", "epc"})
_BIB_HEADERS = frozenset({"bib", "bib number", "bib_num", "bibnumber", "dorsal", "number"})


@dataclass(frozen=True, slots=True)
class ChipBib:
    chip_code: str
    bib: str


def read_chip_file(
    lines: Iterable[str], tag_mode: str = STRIP_ZEROS
) -> Iterator[ChipBib | RowError]:
    """Pairs and per-line errors, streaming; line numbers count from 1 as a text editor does.

    Chips are normalised under the event's tag_mode, so two spellings of one chip are one chip
    exactly when the event's reads treat them so.
    """
    chip_col, bib_col = 0, 1
    # Chip → (bib, line) as first seen: a chip on two bibs is an error, the same pair twice is not.
    seen: dict[str, tuple[str, int]] = {}
    rows = csv.reader(_commas(lines), skipinitialspace=True)
    for line, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if line == 1 and (header := _header(cells)) is not None:
            chip_col, bib_col = header
            continue
        if len(cells) <= max(chip_col, bib_col):
            yield RowError(line, "expected a chip and a bib")
            continue
        chip, bib = normalize_tag(cells[chip_col], tag_mode), cells[bib_col]
        if not chip:
            yield RowError(line, "missing chip")
        elif not bib:
            yield RowError(line, f"chip {cells[chip_col]} has no bib")
        elif chip in seen and seen[chip][0] != bib:
            earlier_bib, earlier = seen[chip]
            yield RowError(
                line, f"chip {cells[chip_col]} is on bib {earlier_bib} at line {earlier}"
            )
        elif chip not in seen:
            seen[chip] = (bib, line)
            yield ChipBib(chip, bib)


def _header(cells: list[str]) -> tuple[int, int] | None:
    names = [c.lower() for c in cells]
    chip = next((i for i, n in enumerate(names) if n in _CHIP_HEADERS), None)
    bib = next((i for i, n in enumerate(names) if n in _BIB_HEADERS), None)
    return (chip, bib) if chip is not None and bib is not None else None


def _commas(lines: Iterable[str]) -> Iterator[str]:
    """Semicolons and tabs read as commas (chip codes and bibs hold neither); no BOM."""
    first = True
    for text in lines:
        if first:
            text, first = text.removeprefix("\ufeff"), False
        yield text.replace(";", ",").replace("\t", ",")
