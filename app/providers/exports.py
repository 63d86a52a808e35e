"""Streaming CSV reading for export-file imports: header checks, per-row errors, column maps."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TextIO, TypeVar

from app.domain.participants_in import (
    STATUS_WORDS,
    ProviderParticipant,
    RowError,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
)
from app.domain.provider_errors import MalformedPayload

T = TypeVar("T")


class Row:
    """One CSV record; lookups by header are case- and space-insensitive."""

    __slots__ = ("_by_key", "line", "raw")

    def __init__(self, line: int, raw: dict[str, str]) -> None:
        self.line = line
        self.raw = raw
        self._by_key = {k.strip().lower(): (v or "").strip() for k, v in raw.items()}

    def get(self, *headers: str) -> str:
        """The first non-empty value among the given headers; empty if none."""
        for header in headers:
            value = self._by_key.get(header.strip().lower(), "")
            if value:
                return value
        return ""


def csv_rows(stream: TextIO, provider: str, required: tuple[str, ...]) -> Iterator[Row | RowError]:
    """Records in file order, read lazily; `line` is the file line (the header is line 1).

    A missing required column fails the whole file (MalformedPayload); a broken record is
    a RowError and reading goes on.
    """
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise MalformedPayload(provider, "file", "the file is empty") from None
    except csv.Error as exc:
        raise MalformedPayload(provider, "file header", str(exc)) from None
    if header:
        header[0] = header[0].removeprefix("\ufeff")
    present = {h.strip().lower() for h in header}
    missing = [h for h in required if h.strip().lower() not in present]
    if missing:
        raise MalformedPayload(
            provider, "file header", "missing column(s) " + ", ".join(repr(m) for m in missing)
        )
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(reader.line_num, f"unreadable CSV: {exc}")
            continue
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            yield RowError(
                reader.line_num, f"has {len(values)} fields, the header has {len(header)}"
            )
            continue
        yield Row(reader.line_num, dict(zip(header, values, strict=True)))


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which header(s) hold each participant field; the first non-empty one wins."""

    source_id: tuple[str, ...]
    sub_event: tuple[str, ...] = ()
    bib: tuple[str, ...] = ()
    first_name: tuple[str, ...] = ()
    last_name: tuple[str, ...] = ()
    gender: tuple[str, ...] = ()
    birth_date: tuple[str, ...] = ()
    age: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    chip: tuple[str, ...] = ()
    custom: tuple[str, ...] = field(default=())

    def required(self) -> tuple[str, ...]:
        return self.source_id[:1]


class ColumnMappedImport:
    """An export file read through a ColumnMap (header matching the tenant can adjust)."""

    name: ClassVar[str] = "CSV"
    is_sync: ClassVar[bool] = False
    description: ClassVar[str] = "Export-file import (CSV), not a live sync."
    default_columns: ClassVar[ColumnMap | None] = None

    def __init__(self, columns: ColumnMap | None = None) -> None:
        chosen = columns or self.default_columns
        if chosen is None:
            raise ValueError(f"{self.name} export import needs a column mapping")
        self.columns = chosen

    def parse(self, stream: TextIO, race_id: str = "") -> Iterator[ProviderParticipant | RowError]:
        for item in csv_rows(stream, self.name, self.columns.required()):
            if isinstance(item, RowError):
                yield item
                continue
            try:
                yield map_row(self.name, self.columns, item, race_id)
            except ValueError as exc:
                yield RowError(item.line, str(exc))


def map_row(provider: str, c: ColumnMap, row: Row, race_id: str) -> ProviderParticipant:
    """One row through a column map; a bad value raises ValueError naming the column."""
    source_id = row.get(*c.source_id)
    if not source_id:
        raise ValueError(f"column {c.source_id[0]!r} is empty")
    status_text = row.get(*c.status)
    status = STATUS_WORDS.get(status_text.lower())
    if status is None:
        raise ValueError(f"column {c.status[0]!r}: unknown status {status_text!r}")
    sub_event = row.get(*c.sub_event)
    chip = row.get(*c.chip)
    return ProviderParticipant(
        source=provider,
        source_id=source_id,
        race_id=race_id,
        sub_event_id=sub_event,
        sub_event_name=sub_event,
        bib=row.get(*c.bib),
        chips=(chip,) if chip else (),
        first_name=row.get(*c.first_name),
        last_name=row.get(*c.last_name),
        gender=normalise_gender(row.get(*c.gender)),
        birth_date=column_value(c.birth_date, row, parse_birth_date),
        age=column_value(c.age, row, int_or_none),
        city=row.get(*c.city),
        state=row.get(*c.state),
        country=normalise_country(row.get(*c.country)),
        team=row.get(*c.team),
        status=status,
        custom={h: row.get(h) for h in c.custom if row.get(h)},
        raw=dict(row.raw),
    )


def column_value(headers: tuple[str, ...], row: Row, parse: Callable[[str], T | None]) -> T | None:
    """The parsed value of the first non-empty column; a bad value names the column."""
    text = row.get(*headers)
    if not text:
        return None
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"column {headers[0]!r}: cannot read {text!r}") from None
