"""Participant CSV import, pure: format detection, column mapping, streaming validation, diff."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final, TextIO

from app.domain.errors import InvalidInput
from app.domain.participants_in import (
    STATUS_WORDS,
    Gender,
    ProviderParticipant,
    RowError,
    Status,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
)

FORMATS: Final = ("runsignup", "ultrasignup", "active", "raceroster", "generic")
FORMAT_NAMES: Final = {
    "runsignup": "RunSignUp",
    "ultrasignup": "UltraSignup",
    "active": "ACTIVE.com",
    "raceroster": "Race Roster",
    "generic": "Other CSV",
}

TARGET_FIELDS: Final = (
    "source_id",
    "bib",
    "chip",
    "first_name",
    "last_name",
    "gender",
    "birth_date",
    "age",
    "city",
    "state",
    "country",
    "team",
    "sub_event",
    "status",
    "vip",
)

# Fields an import may leave out, keeping the stored value (a bib is always given); custom
# fields are the file's unmapped columns.
OPTIONAL_FIELDS: Final = (frozenset(TARGET_FIELDS) - {"bib"}) | {"custom"}

AGE_MIN: Final = 1
AGE_MAX: Final = 120


# Spellings that honestly mean "not given"; any other unrecognised gender is a row error.
_GENDER_UNSPECIFIED = frozenset(
    {
        "",
        "u",
        "unknown",
        "0",
        "8",
        "mixed",
        "coed",
        "co-ed",
        "other",
        "n/a",
        "na",
        "-",
        "unspecified",
        "not specified",
        "prefer not to say",
        "prefer not to answer",
    }
)
_TRUE = frozenset({"yes", "y", "true", "t", "1", "x", "vip"})
_FALSE = frozenset({"", "no", "n", "false", "f", "0"})
_CHIP_SPLIT = re.compile(r"[;\s]+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_BOMS = ("\ufeff", "ï»¿")  # UTF-8 BOM, and the same bytes read as Latin-1


def header_key(header: str) -> str:
    """A header without case, spaces or punctuation: "Bib #" → "bib", "bib_num" → "bibnum"."""
    text = header
    for bom in _BOMS:
        text = text.removeprefix(bom)
    return _NOT_ALNUM.sub("", text.lower())


# Generic synonyms, as header keys, best first. The provider presets below are tried first.
_SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "source_id": (
        "registrationid",
        "orderid",
        "regid",
        "registrationnumber",
        "confirmationnumber",
        "entryid",
        "participantid",
    ),
    "bib": ("bib", "bibnumber", "bibnum", "bibno", "racenumber", "dorsal"),
    "chip": (
        "chip",
        "chipcode",
        "chipnum",
        "chipnumber",
        "chipid",
        "chips",
        "tag",
        "tagcode",
        "tagid",
        "transponder",
        "rfid",
    ),
    "first_name": ("firstname", "first", "givenname", "forename", "fname"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "gender": ("gender", "sex"),
    "birth_date": ("dob", "birthdate", "dateofbirth", "birthday"),
    "age": ("age", "raceage", "ageonraceday"),
    "city": ("city", "town"),
    "state": ("state", "province", "region", "stateprovince", "stateorprovince"),
    "country": ("country", "countrycode", "nation"),
    "team": ("team", "teamname", "club", "clubname"),
    "sub_event": (
        "distance",
        "event",
        "eventname",
        "race",
        "racename",
        "subevent",
        "subeventname",
        "registrationcategory",
        "category",
        "course",
        "eventid",
        "subeventid",
    ),
    "status": ("status", "registrationstatus"),
    "vip": ("vip", "isvip"),
}

# Header knowledge of the provider exports (see app/providers and spec sections 1.4, 3.2, 4.2).
# ACTIVE and Race Roster column names are unverified (no public source shows their exports).
_PRESETS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "runsignup": {
        "source_id": ("registrationid",),
        "bib": ("bibnum", "bib"),
        "chip": ("chipnum", "chip"),
        "sub_event": ("event", "eventname", "eventid"),
        "team": ("teamname",),
        "country": ("countrycode", "country"),
    },
    "ultrasignup": {
        "source_id": ("orderid",),
        "sub_event": ("distance",),
        # "Identified Gender" (x = non-binary) stays a custom field: a mapping is one column.
        "gender": ("gender",),
        "team": ("teamname",),
        "status": ("removed",),
    },
    "active": {
        "source_id": ("registrationid",),
        "sub_event": ("registrationcategory",),
        "bib": ("bibnumber", "bib"),
        "birth_date": ("dateofbirth", "dob"),
        "status": ("registrationstatus",),
    },
    "raceroster": {
        "source_id": ("registrationid",),
        "sub_event": ("subeventname", "subevent", "subeventid"),
        "bib": ("bibnumber", "bib"),
        "birth_date": ("dateofbirth",),
        "state": ("region",),
        "team": ("teamname",),
    },
    "generic": {},
}

# Columns that point at one provider, with weights; a format needs a clear lead to win.
_SIGNATURES: Final[Mapping[str, Mapping[str, int]]] = {
    "runsignup": {
        "bibnum": 3,
        "chipnum": 3,
        "registrationid": 1,
        "eventid": 1,
        "teamname": 1,
        "zipcode": 1,
        "lastmodified": 1,
    },
    "ultrasignup": {
        "statementid": 3,
        "ultrasignupfee": 3,
        "identifiedgender": 2,
        "droppingfromtherace": 2,
        "orderid": 1,
        "distance": 1,
        "ordertype": 1,
    },
    "active": {
        "registrationcategory": 2,
        "registrationstatus": 2,
        "registrationid": 1,
        "bibnumber": 1,
    },
    "raceroster": {
        "subeventid": 2,
        "subevent": 2,
        "subeventname": 2,
        "region": 1,
        "registrationid": 1,
        "bibnumber": 1,
    },
}
_DETECT_MIN_SCORE: Final = 3


def detect_format(headers: Iterable[str]) -> str:
    """The export format the headers look like; "generic" when no provider clearly fits."""
    keys = {header_key(h) for h in headers}
    scores = {
        name: sum(weight for key, weight in signature.items() if key in keys)
        for name, signature in _SIGNATURES.items()
    }
    best = max(scores.values())
    winners = [name for name, score in scores.items() if score == best]
    if best < _DETECT_MIN_SCORE or len(winners) != 1:
        return "generic"
    return winners[0]


def guess_mapping(headers: Iterable[str], format: str = "generic") -> dict[str, str]:
    """Target field → the file's header holding it, guessed from header names.

    Each header is used at most once; headers not in the result become custom fields.
    """
    if format not in _PRESETS:
        raise InvalidInput(f"unknown export format {format!r}")
    by_key: dict[str, str] = {}
    for header in headers:
        clean = clean_header(header)
        by_key.setdefault(header_key(clean), clean)
    preset = _PRESETS[format]
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target in TARGET_FIELDS:
        for key in (*preset.get(target, ()), *_SYNONYMS[target]):
            found = by_key.get(key)
            if found is not None and found not in used:
                mapping[target] = found
                used.add(found)
                break
    return mapping


def source_for(format: str) -> str:
    """The `source` participants of an import in this format carry, e.g. "csv:runsignup"."""
    return f"csv:{format}"


def clean_header(header: str) -> str:
    """A header as shown to the user: no BOM, no surrounding spaces."""
    text = header
    for bom in _BOMS:
        text = text.removeprefix(bom)
    return text.strip()


@dataclass(frozen=True, slots=True)
class Header:
    """The first record of a file: its column names and the delimiter they were split on."""

    names: tuple[str, ...]
    delimiter: str


def sniff_delimiter(line: str) -> str:
    """The most frequent of , ; tab | in the header line (outside quotes); "," if none."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_header(first_line: str, delimiter: str | None = None) -> Header:
    """Column names of a file's first line (BOM-tolerant), for detect_format and guess_mapping."""
    chosen = delimiter or sniff_delimiter(first_line)
    try:
        names = next(csv.reader([first_line], delimiter=chosen), [])
    except csv.Error as exc:
        raise InvalidInput(f"the header line cannot be read: {exc}") from None
    return Header(tuple(clean_header(n) for n in names), chosen)


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A valid data row: its file line (the header is line 1) and the participant it holds."""

    line: int
    participant: ProviderParticipant


@dataclass(frozen=True, slots=True)
class ImportRowError(RowError):
    """A rejected row; `values` is the record as read, so the error report can show it."""

    bib: str = ""
    key: str = ""  # participant_key of the row if it had one, so diff need not call it removed
    values: tuple[str, ...] = ()


class _Reject(Exception):
    pass


@dataclass(slots=True)
class _Columns:
    """Column positions of the mapped targets; everything else is custom."""

    positions: dict[str, int]
    headers: tuple[str, ...]
    custom: tuple[tuple[str, int], ...]
    status_is_removed_flag: bool


def _resolve(mapping: Mapping[str, str], headers: tuple[str, ...]) -> _Columns:
    unknown = sorted(set(mapping) - set(TARGET_FIELDS))
    if unknown:
        raise InvalidInput("unknown field(s) in the column mapping: " + ", ".join(unknown))
    if not mapping.get("bib"):
        raise InvalidInput("choose the column that holds the bib number")
    exact = {h: i for i, h in reversed(list(enumerate(headers)))}
    loose = {header_key(h): i for i, h in reversed(list(enumerate(headers)))}
    positions: dict[str, int] = {}
    for target, header in mapping.items():
        if not header:
            continue
        pos = exact.get(clean_header(header), loose.get(header_key(header)))
        if pos is None:
            raise InvalidInput(f"column {header!r} (for {target}) is not in the file")
        positions[target] = pos
    taken = set(positions.values())
    custom = tuple((h, i) for i, h in enumerate(headers) if i not in taken and h)
    removed_flag = "status" in positions and header_key(headers[positions["status"]]) == "removed"
    return _Columns(positions, headers, custom, removed_flag)


def read_rows(
    lines: Iterable[str] | TextIO,
    mapping: Mapping[str, str],
    *,
    source: str,
    race_id: str = "",
    delimiter: str | None = None,
) -> Iterator[ImportRow | ImportRowError]:
    """Rows in file order, read lazily; a bad row is an ImportRowError and reading goes on.

    The delimiter is sniffed from the header line unless given. Duplicates (bib, chip, source
    id) are checked against earlier *accepted* rows: the later row is rejected. An empty file
    or a mapping that does not fit the header raises InvalidInput before any row is yielded.
    """
    source_lines = iter(lines)
    first = next(source_lines, None)
    if first is None or not first.strip():
        raise InvalidInput("the file is empty")
    header = read_header(first, delimiter)
    columns = _resolve(mapping, header.names)
    reader = csv.reader(itertools.chain((first,), source_lines), delimiter=header.delimiter)
    next(reader)  # the header, already read
    seen = _Seen()
    width = len(header.names)
    while True:
        line = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ImportRowError(line, f"unreadable CSV: {exc}")
            continue
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) > width and not any(v.strip() for v in values[width:]):
            values = values[:width]  # trailing empty cells, as spreadsheets write them
        if len(values) != width:
            yield ImportRowError(
                line,
                f"has {len(values)} fields, the header has {width}",
                values=tuple(values),
            )
            continue
        yield _row(line, values, columns, seen, source, race_id)


@dataclass(slots=True)
class _Seen:
    """Bibs, chips and source ids of accepted rows → their line, for duplicate checks."""

    bibs: dict[str, int] = field(default_factory=dict)
    chips: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)


def _row(
    line: int,
    values: list[str],
    columns: _Columns,
    seen: _Seen,
    source: str,
    race_id: str,
) -> ImportRow | ImportRowError:
    pos = columns.positions

    def get(target: str) -> str:
        i = pos.get(target)
        return values[i].strip() if i is not None else ""

    bib = get("bib")
    source_id = get("source_id")
    key = _key(source_id, bib)
    try:
        if not bib:
            raise _Reject("missing bib")
        gender = _gender(get("gender"))
        birth_date = _birth_date(get("birth_date"))
        age = _age(get("age"))
        status = _status(get("status"), columns.status_is_removed_flag)
        vip = _vip(get("vip"))
        chips = _chips(get("chip"))
        _check_unique(seen, bib, chips, source_id)
    except _Reject as exc:
        return ImportRowError(line, str(exc), bib=bib, key=key, values=tuple(values))
    seen.bibs[bib] = line
    for chip in chips:
        seen.chips[chip] = line
    if source_id:
        seen.ids[source_id] = line
    sub_event = get("sub_event")
    participant = ProviderParticipant(
        source=source,
        source_id=source_id,
        race_id=race_id,
        sub_event_id=sub_event,
        sub_event_name=sub_event,
        bib=bib,
        chips=chips,
        first_name=get("first_name"),
        last_name=get("last_name"),
        gender=gender,
        birth_date=birth_date,
        age=age,
        city=get("city"),
        state=get("state"),
        country=normalise_country(get("country")),
        team=get("team"),
        status=status,
        vip=vip,
        custom={h: values[i].strip() for h, i in columns.custom if values[i].strip()},
        raw=dict(zip(columns.headers, values, strict=True)),
    )
    return ImportRow(line, participant)


def _gender(text: str) -> Gender:
    gender = normalise_gender(text)
    if gender == "U" and text.lower() not in _GENDER_UNSPECIFIED:
        raise _Reject(f"unknown gender {text!r}")
    return gender


def _birth_date(text: str) -> date | None:
    try:
        return parse_birth_date(text)
    except ValueError:
        raise _Reject(f"bad birth date {text!r} (use YYYY-MM-DD or M/D/YYYY)") from None


def _age(text: str) -> int | None:
    try:
        age = int_or_none(text)
    except ValueError:
        raise _Reject(f"age {text!r} is not a whole number") from None
    if age is not None and not AGE_MIN <= age <= AGE_MAX:
        raise _Reject(f"age {age} is out of range ({AGE_MIN}-{AGE_MAX})")
    return age


def _status(text: str, removed_flag: bool) -> Status:
    word = text.lower()
    if removed_flag:  # UltraSignup's "Removed" column holds true/false
        if word in _TRUE:
            return "cancelled"
        if word in _FALSE:
            return "registered"
        raise _Reject(f"unknown removed flag {text!r}")
    status = STATUS_WORDS.get(word)
    if status is None:
        raise _Reject(f"unknown status {text!r}")
    return status


def _vip(text: str) -> bool:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _Reject(f"unknown VIP value {text!r} (use yes or no)")


def _chips(text: str) -> tuple[str, ...]:
    codes = [c for c in _CHIP_SPLIT.split(text) if c]
    return tuple(dict.fromkeys(codes))  # one code written twice in a row is one chip


def _check_unique(seen: _Seen, bib: str, chips: tuple[str, ...], source_id: str) -> None:
    earlier = seen.bibs.get(bib)
    if earlier is not None:
        raise _Reject(f"duplicate bib {bib!r} (first on line {earlier})")
    for chip in chips:
        earlier = seen.chips.get(chip)
        if earlier is not None:
            raise _Reject(f"duplicate chip {chip!r} (first on line {earlier})")
    if source_id:
        earlier = seen.ids.get(source_id)
        if earlier is not None:
            raise _Reject(f"duplicate registration id {source_id!r} (first on line {earlier})")


ERROR_COLUMNS: Final = ("line", "bib", "reason")


def write_errors(
    errors: Iterable[RowError], out: TextIO, headers: Iterable[str] | None = None
) -> int:
    """The downloadable error report: line, bib, reason, then the original row's cells.

    `headers` (the file's header) labels the original cells. Returns the rows written.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((*ERROR_COLUMNS, *(headers or ())))
    count = 0
    for error in errors:
        if isinstance(error, ImportRowError):
            writer.writerow((error.row, error.bib, error.reason, *error.values))
        else:
            writer.writerow((error.row, "", error.reason))
        count += 1
    return count


def errors_csv(errors: Iterable[RowError], headers: Iterable[str] | None = None) -> str:
    """write_errors into a string."""
    out = io.StringIO()
    write_errors(errors, out, headers)
    return out.getvalue()


def _key(source_id: str, bib: str) -> str:
    if source_id:
        return f"id:{source_id}"
    return f"bib:{bib}" if bib else ""


REMOVALS: Final = {
    "keep": "Keep participants who are not in this file",
    "delete": "Delete participants who are not in this file (the file is the whole list)",
}


@dataclass(frozen=True, slots=True)
class Upload:
    """An uploaded participant file and the state of its last import (or check)."""

    id: int
    event_id: int
    filename: str
    format: str
    total_lines: int
    mapping: dict[str, str]
    removal: str
    state: str  # uploaded | running | done | failed
    dry_run: bool
    rows_read: int
    counts: dict[str, int] | None
    error_count: int
    message: str
    created_at: datetime
    updated_at: datetime

    @property
    def percent(self) -> int:
        """Share of the file read so far (the header is a line too)."""
        data_lines = max(self.total_lines - 1, 1)
        return min(100, round(100 * self.rows_read / data_lines))
