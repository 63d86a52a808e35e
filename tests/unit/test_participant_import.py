"""Participant CSV import: detection, mapping, streaming validation, error report, diff."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from app.domain.errors import InvalidInput
from app.domain.participant_import import (
    ImportRow,
    ImportRowError,
    detect_format,
    errors_csv,
    guess_mapping,
    header_key,
    read_header,
    read_rows,
    source_for,
)
from app.domain.participants_in import ProviderParticipant, RowError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"

RUNSIGNUP_HEADER = (
    "registration_id,event_id,bib_num,chip_num,first_name,last_name,gender,dob,age,"
    "city,state,country_code,zipcode,team_name,last_modified"
)
RACEROSTER_HEADER = (
    "registrationId,subEventId,subEventName,firstName,lastName,gender,dateOfBirth,"
    "city,region,country,bibNumber,teamName,status"
)
GENERIC_HEADER = "Bib,First,Last,Sex,Birth Date,City,Province,Club,Race,Tag,VIP,T-Shirt"


def split(header: str) -> list[str]:
    return header.split(",")


def rows(text: str, fmt: str = "generic", **kw: str) -> list[ImportRow | ImportRowError]:
    lines = io.StringIO(text, newline="")
    header = read_header(text.splitlines()[0])
    mapping = guess_mapping(header.names, fmt)
    return list(read_rows(lines, mapping, source=source_for(fmt), **kw))


def ok(items: list[ImportRow | ImportRowError]) -> list[ProviderParticipant]:
    return [i.participant for i in items if isinstance(i, ImportRow)]


def errs(items: list[ImportRow | ImportRowError]) -> list[tuple[int, str]]:
    return [(i.row, i.reason) for i in items if isinstance(i, RowError)]


# --- header matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Bib"], {"bib": "Bib"}),
        (["Bib Number"], {"bib": "Bib Number"}),
        (["bib_num"], {"bib": "bib_num"}),
        (["BIB #"], {"bib": "BIB #"}),
        (["First Name", "last-name"], {"first_name": "First Name", "last_name": "last-name"}),
        (["first", "LAST"], {"first_name": "first", "last_name": "LAST"}),
        (["Sex"], {"gender": "Sex"}),
        (["Gender"], {"gender": "Gender"}),
        (["DOB"], {"birth_date": "DOB"}),
        (["Birth Date"], {"birth_date": "Birth Date"}),
        (["Age", "City"], {"age": "Age", "city": "City"}),
        (["State"], {"state": "State"}),
        (["Province"], {"state": "Province"}),
        (["Region"], {"state": "Region"}),
        (["Country"], {"country": "Country"}),
        (["Team"], {"team": "Team"}),
        (["Club"], {"team": "Club"}),
        (["Distance"], {"sub_event": "Distance"}),
        (["Event"], {"sub_event": "Event"}),
        (["Race"], {"sub_event": "Race"}),
        (["Chip"], {"chip": "Chip"}),
        (["Chip Code"], {"chip": "Chip Code"}),
        (["Tag"], {"chip": "Tag"}),
        (["Registration ID"], {"source_id": "Registration ID"}),
        (["Order ID"], {"source_id": "Order ID"}),
        (["VIP", "Status"], {"vip": "VIP", "status": "Status"}),
    ],
)
def test_generic_synonyms(headers: list[str], expected: dict[str, str]) -> None:
    assert guess_mapping(headers, "generic") == expected


def test_header_key_ignores_case_space_punctuation_and_bom() -> None:
    assert header_key("\ufeffBib  #") == header_key("bib") == "bib"
    assert header_key("Chip_Code") == header_key("chip-code") == "chipcode"


def test_a_header_is_used_once_and_the_rest_stays_custom() -> None:
    mapping = guess_mapping(["Event", "Race", "Shirt"], "generic")
    assert mapping == {"sub_event": "Event"}


def test_unknown_format_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        guess_mapping(["Bib"], "nope")


# --- format detection ------------------------------------------------------------------------


def fixture_header(name: str) -> list[str]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as f:
        return list(read_header(f.readline()).names)


def test_detects_ultrasignup_and_maps_its_export() -> None:
    headers = fixture_header("ultrasignup_registrations.csv")
    assert detect_format(headers) == "ultrasignup"
    mapping = guess_mapping(headers, "ultrasignup")
    assert mapping["source_id"] == "Order ID"
    assert mapping["sub_event"] == "distance"
    assert mapping["gender"] == "gender"
    assert mapping["team"] == "team_name"
    assert mapping["status"] == "Removed"
    assert mapping["bib"] == "Bib"


def test_detects_active_and_maps_its_export() -> None:
    headers = fixture_header("active_generic.csv")
    assert detect_format(headers) == "active"
    mapping = guess_mapping(headers, "active")
    assert mapping["source_id"] == "Registration ID"
    assert mapping["sub_event"] == "Registration Category"
    assert mapping["bib"] == "Bib Number"
    assert mapping["birth_date"] == "Date of Birth"
    assert mapping["status"] == "Registration Status"


def test_detects_runsignup() -> None:
    headers = split(RUNSIGNUP_HEADER)
    assert detect_format(headers) == "runsignup"
    mapping = guess_mapping(headers, "runsignup")
    assert mapping["bib"] == "bib_num"
    assert mapping["chip"] == "chip_num"
    assert mapping["source_id"] == "registration_id"
    assert mapping["sub_event"] == "event_id"
    assert mapping["country"] == "country_code"
    assert mapping["team"] == "team_name"


def test_detects_raceroster() -> None:
    headers = split(RACEROSTER_HEADER)
    assert detect_format(headers) == "raceroster"
    mapping = guess_mapping(headers, "raceroster")
    assert mapping["sub_event"] == "subEventName"
    assert mapping["state"] == "region"
    assert mapping["bib"] == "bibNumber"
    assert mapping["source_id"] == "registrationId"


def test_plain_headers_are_generic() -> None:
    assert detect_format(split(GENERIC_HEADER)) == "generic"
    assert detect_format(["Bib", "Registration ID", "First Name"]) == "generic"
    assert detect_format([]) == "generic"


# --- reading ---------------------------------------------------------------------------------


def test_ultrasignup_fixture_reads_through_the_guessed_mapping() -> None:
    text = (FIXTURES / "ultrasignup_registrations.csv").read_text(encoding="utf-8")
    items = rows(text, "ultrasignup")
    casey, lee = ok(items)
    assert errs(items) == [(3, "missing bib")]
    assert casey.source == "csv:ultrasignup"
    assert (casey.source_id, casey.bib, casey.sub_event_name) == ("7000001", "101", "50K")
    assert casey.birth_date == date(1988, 2, 29)
    assert (casey.gender, casey.country, casey.status) == ("F", "US", "registered")
    assert (
        "Identified Gender"
        not in guess_mapping(
            fixture_header("ultrasignup_registrations.csv"), "ultrasignup"
        ).values()
    )
    assert casey.custom["Email"] == "casey@example.com"
    assert lee.status == "cancelled"  # Removed = true
    assert casey.raw["Order ID"] == "7000001"


def test_active_fixture_long_gender_words_and_us_dates() -> None:
    text = (FIXTURES / "active_generic.csv").read_text(encoding="utf-8")
    items = rows(text, "active")
    (robin,) = ok(items)
    assert errs(items) == [(3, "missing bib")]
    assert robin.gender == "F"
    assert robin.birth_date == date(1987, 4, 18)
    assert robin.country == "US"
    assert robin.bib == "2101"


def test_generic_row_fields_chips_and_custom() -> None:
    text = (
        GENERIC_HEADER + "\n0099,Ana,Ríos,f,1990-05-06,Quito,Pichincha,Club X,10K,A1;B2 C3,yes,M\n"
    )
    (item,) = rows(text)
    assert isinstance(item, ImportRow)
    assert item.line == 2
    p = item.participant
    assert p.bib == "0099"  # a bib is text: "0099" is not "99"
    assert p.chips == ("A1", "B2", "C3")
    assert (p.first_name, p.last_name, p.gender) == ("Ana", "Ríos", "F")
    assert (p.state, p.team, p.sub_event_id, p.sub_event_name) == (
        "Pichincha",
        "Club X",
        "10K",
        "10K",
    )
    assert p.vip is True
    assert p.source_id == ""
    assert p.custom == {"T-Shirt": "M"}


def test_bom_and_semicolon_delimiter() -> None:
    text = "\ufeffBib;First Name;Sex;Age\n1;Ana;F;30\n2;Bo;M;41\n"
    header = read_header(text.splitlines()[0])
    assert header.delimiter == ";"
    assert header.names == ("Bib", "First Name", "Sex", "Age")
    items = rows(text)
    assert [(p.bib, p.first_name, p.age) for p in ok(items)] == [("1", "Ana", 30), ("2", "Bo", 41)]


def test_bom_with_comma_delimiter_and_quoted_comma() -> None:
    text = '\ufeffBib,First Name,Team\n7,Ana,"Runners, Inc."\n'
    (p,) = ok(rows(text))
    assert p.team == "Runners, Inc."
    assert "Bib" in p.raw


def test_explicit_delimiter_wins_over_sniffing() -> None:
    text = "Bib\tName;x\n5\tAna;y\n"
    items = list(read_rows(io.StringIO(text), {"bib": "Bib"}, source="csv:generic", delimiter="\t"))
    (p,) = ok(items)
    assert p.custom == {"Name;x": "Ana;y"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",Ana,F,1990-01-01,30,", "missing bib"),
        ("1,Ana,F,1990-13-45,30,", "bad birth date '1990-13-45'"),
        ("1,Ana,F,31/12/1990,30,", "bad birth date '31/12/1990'"),
        ("1,Ana,Q,1990-01-01,30,", "unknown gender 'Q'"),
        ("1,Ana,F,1990-01-01,150,", "age 150 is out of range"),
        ("1,Ana,F,1990-01-01,0,", "age 0 is out of range"),
        ("1,Ana,F,1990-01-01,thirty,", "age 'thirty' is not a whole number"),
        ("1,Ana,F,1990-01-01,30,maybe", "unknown VIP value 'maybe'"),
        ("1,Ana,F", "has 3 fields, the header has 6"),
        ("1,Ana,F,1990-01-01,30,no,extra", "has 7 fields, the header has 6"),
    ],
)
def test_row_errors_name_the_value(row: str, reason: str) -> None:
    items = rows("Bib,First,Gender,DOB,Age,VIP\n" + row + "\n")
    ((line, got),) = errs(items)
    assert line == 2
    assert got.startswith(reason)


def test_unspecified_gender_words_are_not_errors() -> None:
    text = "Bib,Gender\n1,\n2,U\n3,prefer not to say\n4,0\n5,9\n6,Non-binary\n"
    assert [p.gender for p in ok(rows(text))] == ["U", "U", "U", "U", "X", "X"]


def test_unknown_status_is_an_error_and_words_map() -> None:
    items = rows("Bib,Status\n1,Refunded\n2,Confirmed\n3,lost\n")
    assert [p.status for p in ok(items)] == ["cancelled", "registered"]
    assert errs(items) == [(4, "unknown status 'lost'")]


def test_duplicates_name_the_earlier_line() -> None:
    text = "Reg ID,Bib,Chip\nr1,1,A\nr2,2,B\nr3,1,C\nr4,4,B;D\nr1,5,E\nr6,6,F F\n"
    items = rows(text)
    assert errs(items) == [
        (4, "duplicate bib '1' (first on line 2)"),
        (5, "duplicate chip 'B' (first on line 3)"),
        (6, "duplicate registration id 'r1' (first on line 2)"),
    ]
    assert [p.chips for p in ok(items)] == [("A",), ("B",), ("F",)]


def test_a_rejected_row_does_not_claim_its_bib() -> None:
    items = rows("Bib,Age\n1,999\n1,30\n")
    assert errs(items) == [(2, "age 999 is out of range (1-120)")]
    assert [p.bib for p in ok(items)] == ["1"]


def test_blank_lines_skipped_and_line_numbers_stay_file_lines() -> None:
    text = 'Bib,Note\n1,a\n\n2,"two\nlines"\n,x\n'
    items = rows(text)
    assert [i.line for i in items if isinstance(i, ImportRow)] == [2, 4]
    assert errs(items) == [(6, "missing bib")]


def test_trailing_empty_cells_from_spreadsheets_are_tolerated() -> None:
    (p,) = ok(rows("Bib,First\n1,Ana,,\n"))
    assert p.first_name == "Ana"


def test_mapping_problems_fail_the_whole_file() -> None:
    with pytest.raises(InvalidInput, match="bib"):
        list(read_rows(["First\n", "Ana\n"], {"first_name": "First"}, source="csv:generic"))
    with pytest.raises(InvalidInput, match="'Bib No'"):
        list(read_rows(["Bib\n", "1\n"], {"bib": "Bib No"}, source="csv:generic"))
    with pytest.raises(InvalidInput, match="shoe"):
        list(read_rows(["Bib\n", "1\n"], {"bib": "Bib", "shoe": "Bib"}, source="csv:generic"))
    with pytest.raises(InvalidInput, match="empty"):
        list(read_rows([], {"bib": "Bib"}, source="csv:generic"))


def test_mapping_header_matches_loosely() -> None:
    (p,) = ok(list(read_rows(["BIB NUMBER\n", "12\n"], {"bib": "bib_number"}, source="csv:x")))
    assert p.bib == "12"


def test_read_rows_is_lazy() -> None:
    pulled = 0

    def lines() -> Iterator[str]:
        nonlocal pulled
        yield "Bib,First\n"
        for i in range(1_000_000):
            pulled += 1
            yield f"{i},N{i}\n"

    items = read_rows(lines(), {"bib": "Bib"}, source="csv:generic")
    first = next(items)
    assert isinstance(first, ImportRow)
    assert pulled <= 2


# --- 50,000 rows, 1% bad, bounded memory -----------------------------------------------------

BIG_HEADER = "Registration ID,Bib,Chip,First Name,Last Name,Gender,DOB,Age,City,Event,Shirt\n"
BAD_KINDS = (
    "missing bib",
    "bad birth date '1990-13-45'",
    "unknown gender 'Q'",
    "age 150 is out of range",
    "duplicate bib",
    "duplicate chip",
    "has 10 fields",
    "duplicate registration id",
)


def big_file(n: int, expected: list[tuple[int, str]]) -> Iterator[str]:
    """n data rows; every row with i % 100 == 50 is bad, its kind cycling through BAD_KINDS."""
    yield "\ufeff" + BIG_HEADER
    for i in range(n):
        line = i + 2
        reg, bib, chip, gender, dob, age = f"R{i}", str(1000 + i), f"C{i:06d}", "M", "", "35"
        dob = f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}"
        tail = ",Town,10K,L"
        if i % 100 == 50:
            kind = BAD_KINDS[(i // 100) % len(BAD_KINDS)]
            expected.append((line, kind))
            if kind == "missing bib":
                bib = ""
            elif kind.startswith("bad birth"):
                dob = "1990-13-45"
            elif kind.startswith("unknown gender"):
                gender = "Q"
            elif kind.startswith("age"):
                age = "150"
            elif kind == "duplicate bib":
                bib = str(1000 + i - 1)
            elif kind == "duplicate chip":
                chip = f"C{i - 7:06d} X{i}"
            elif kind == "duplicate registration id":
                reg = f"R{i - 3}"
            else:
                tail = ",Town,10K"
        yield f"{reg},{bib},{chip},First{i},Last{i},{gender},{dob},{age}{tail}\n"


def test_fifty_thousand_rows_stream_with_bounded_memory() -> None:
    expected: list[tuple[int, str]] = []
    header = read_header(BIG_HEADER)
    mapping = guess_mapping(header.names, detect_format(header.names))
    valid = 0
    got: list[tuple[int, str]] = []
    tracemalloc.start()
    try:
        for item in read_rows(big_file(50_000, expected), mapping, source="csv:generic"):
            if isinstance(item, ImportRow):
                valid += 1
            else:
                got.append((item.row, item.reason))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert valid == 49_500
    assert len(got) == 500
    assert [line for line, _ in got] == [line for line, _ in expected]
    for (line, reason), (_, kind) in zip(got, expected, strict=True):
        assert reason.startswith(kind), (line, reason, kind)
    dup_bib = next(r for line, r in got if r.startswith("duplicate bib"))
    first = next(line for line, r in got if r.startswith("duplicate bib"))
    assert dup_bib.endswith(f"(first on line {first - 1})")
    print(f"tracemalloc peak {peak / 1e6:.1f} MB")
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --- error report ----------------------------------------------------------------------------


def test_errors_csv_round_trips_through_csv_reader() -> None:
    text = 'Bib,First,Age\n1,"Ana, ""the"" fast",150\n,Bo,30\n2,Cy\n'
    header = read_header(text.splitlines()[0])
    errors = [e for e in rows(text) if isinstance(e, ImportRowError)]
    report = errors_csv([*errors, RowError(9, "unreadable CSV: x")], header.names)
    parsed = list(csv.reader(io.StringIO(report, newline="")))
    assert parsed == [
        ["line", "bib", "reason", "Bib", "First", "Age"],
        ["2", "1", "age 150 is out of range (1-120)", "1", 'Ana, "the" fast', "150"],
        ["3", "", "missing bib", "", "Bo", "30"],
        ["4", "", "has 2 fields, the header has 3", "2", "Cy"],
        ["9", "", "unreadable CSV: x"],
    ]


def test_errors_csv_without_errors_is_just_the_header() -> None:
    assert list(csv.reader(io.StringIO(errors_csv([])))) == [["line", "bib", "reason"]]
