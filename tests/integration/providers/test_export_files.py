"""Export-file imports over the spec's fixture CSVs, broken rows reported row by row."""

from __future__ import annotations

import io
from datetime import date

import pytest

from app.domain.participants_in import ProviderParticipant, RowError
from app.domain.provider_errors import MalformedPayload
from app.providers.active import ActiveExport
from app.providers.exports import ColumnMap
from app.providers.raceroster import RaceRosterExport
from app.providers.ultrasignup import UltraSignupExport
from tests.integration.providers.stub_server import FIXTURES


def open_fixture(name: str) -> io.TextIOWrapper:
    return (FIXTURES / name).open(newline="", encoding="utf-8")


def raw_rows(name: str) -> list[dict[str, str]]:
    import csv

    with open_fixture(name) as f:
        return list(csv.DictReader(f))


def ultrasignup_expected() -> list[ProviderParticipant]:
    raw = raw_rows("ultrasignup_registrations.csv")
    return [
        ProviderParticipant(
            source="UltraSignup", source_id="7000001", race_id="r1", sub_event_id="50K",
            sub_event_name="50K", bib="101", first_name="Casey", last_name="Trailtest",
            gender="F", birth_date=date(1988, 2, 29), age=38, city="Boulder", state="CO",
            country="US", team="", status="registered",
            custom={"Registration Date": "3/3/2026 7:15:02 PM", "order_type": "order"},
            raw=raw[0],
        ),
        ProviderParticipant(
            source="UltraSignup", source_id="7000002", race_id="r1", sub_event_id="25K",
            sub_event_name="25K", bib="", first_name="Drew", last_name="Example",
            gender="X", birth_date=date(1979, 12, 1), age=46, city="Moab", state="UT",
            country="US", team="Desert Rats", status="registered",
            custom={"Registration Date": "3/4/2026 6:02:44 AM", "order_type": "order",
                    "Captain": "yes"},
            raw=raw[1],
        ),
        ProviderParticipant(
            source="UltraSignup", source_id="7000003", race_id="r1", sub_event_id="50K",
            sub_event_name="50K", bib="102", first_name="Lee", last_name="Dropped",
            gender="M", birth_date=date(1999, 5, 5), age=26, city="Golden", state="CO",
            country="US", team="", status="cancelled",
            custom={"Registration Date": "3/6/2026 11:59:59 PM", "order_type": "order"},
            raw=raw[2],
        ),
    ]  # fmt: skip


def test_ultrasignup_export() -> None:
    assert not UltraSignupExport.is_sync
    assert "not a sync" in UltraSignupExport.description
    with open_fixture("ultrasignup_registrations.csv") as f:
        got = list(UltraSignupExport().parse(f, race_id="r1"))
    assert got == ultrasignup_expected()


def test_ultrasignup_broken_rows_are_reported_and_the_rest_imported() -> None:
    with open_fixture("ultrasignup_registrations.csv") as f:
        lines = f.read().splitlines()
    header, good = lines[0], lines[1:]
    broken = [
        header,
        good[0],
        ",3/3/2026 7:15:02 PM,50K,order,No,Id" + "," * 24,  # line 3: empty Order ID
        "7000009,3/3/2026,50K,order,Too,Short",  # line 4: 6 fields
        good[1].replace(",46,", ",forty-six,"),  # line 5: bad age
        "",  # blank line: skipped, not an error
        good[2].replace("1999-05-05", "1999-13-45"),  # line 7: bad DOB
    ]
    got = list(UltraSignupExport().parse(io.StringIO("\r\n".join(broken) + "\r\n"), "r1"))
    assert got == [
        ultrasignup_expected()[0],
        RowError(3, "column 'Order ID' is empty"),
        RowError(4, "has 6 fields, the header has 30"),
        RowError(5, "column 'Age': cannot read 'forty-six'"),
        RowError(7, "column 'DOB': cannot read '1999-13-45'"),
    ]


def test_ultrasignup_missing_column_fails_the_file() -> None:
    with pytest.raises(MalformedPayload, match="file header: missing column\\(s\\) 'Order ID'"):
        list(UltraSignupExport().parse(io.StringIO("First Name,Last Name,distance\r\nA,B,50K\r\n")))


def test_active_generic_export_with_words_and_us_dates() -> None:
    assert not ActiveExport.is_sync and "not a sync" in ActiveExport.description
    raw = raw_rows("active_generic.csv")
    with open_fixture("active_generic.csv") as f:
        got = list(ActiveExport().parse(f, race_id="a1"))
    assert got == [
        ProviderParticipant(
            source="ACTIVE.com", source_id="AW-000101", race_id="a1",
            sub_event_id="Half Marathon", sub_event_name="Half Marathon", bib="2101",
            first_name="Robin", last_name="Sample", gender="F", birth_date=date(1987, 4, 18),
            age=38, city="San Diego", state="CA", country="US", team="",
            status="registered", raw=raw[0],
        ),
        ProviderParticipant(
            source="ACTIVE.com", source_id="AW-000102", race_id="a1", sub_event_id="10K",
            sub_event_name="10K", bib="", first_name="Taylor", last_name="Sample", gender="M",
            birth_date=date(1975, 11, 2), age=50, city="La Jolla", state="CA", country="US",
            team="Tri Club", status="cancelled", raw=raw[1],
        ),
    ]  # fmt: skip


def test_active_unknown_status_is_a_row_error() -> None:
    with open_fixture("active_generic.csv") as f:
        text = f.read().replace(",Complete", ",Pending Review")
    got = list(ActiveExport().parse(io.StringIO(text)))
    assert got[0] == RowError(2, "column 'Registration Status': unknown status 'Pending Review'")
    assert isinstance(got[1], ProviderParticipant) and got[1].status == "cancelled"


def test_race_roster_needs_a_column_map_and_reads_with_one() -> None:
    assert not RaceRosterExport.is_sync and "not a sync" in RaceRosterExport.description
    with pytest.raises(ValueError, match="needs a column mapping"):
        RaceRosterExport()
    columns = ColumnMap(
        source_id=("Registration ID",), sub_event=("Sub-event",), bib=("Bib",),
        first_name=("First name",), last_name=("Last name",), gender=("Gender",),
        birth_date=("Date of birth",), city=("City",), country=("Country",),
    )  # fmt: skip
    text = (
        "Registration ID,Sub-event,Bib,First name,Last name,Gender,Date of birth,City,Country\r\n"
        "5550001,Half Marathon,412,Morgan,Example,Non-binary,1994-07-01,Kingston,Canada\r\n"
    )
    got = list(RaceRosterExport(columns).parse(io.StringIO(text), "88001"))
    assert got == [
        ProviderParticipant(
            source="Race Roster", source_id="5550001", race_id="88001",
            sub_event_id="Half Marathon", sub_event_name="Half Marathon", bib="412",
            first_name="Morgan", last_name="Example", gender="X",
            birth_date=date(1994, 7, 1), city="Kingston", country="CA",
            raw={"Registration ID": "5550001", "Sub-event": "Half Marathon", "Bib": "412",
                 "First name": "Morgan", "Last name": "Example", "Gender": "Non-binary",
                 "Date of birth": "1994-07-01", "City": "Kingston", "Country": "Canada"},
        )
    ]  # fmt: skip
