"""Results files for other sites: UltraSignup and RunSignup CSV, Athlinks import JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from app.domain.participants_in import ResultRow

# UltraSignup status codes: 1 finished, 2 DNF, 3 DNS, 5 DQ.
_ULTRASIGNUP_STATUS = {"finished": "1", "dnf": "2", "dns": "3", "dq": "5"}
ULTRASIGNUP_HEADER = (
    "place", "time", "first", "last", "gender", "age", "dob", "bib", "city", "state", "status",
)  # fmt: skip
RUNSIGNUP_HEADER = (
    "place", "clock time", "chip time", "first", "last", "gender", "age", "bib", "city", "state",
)  # fmt: skip


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def ultrasignup_results_csv(results: Iterable[ResultRow]) -> str:
    """UltraSignup's fixed-distance upload: exactly these columns, no blank gender.

    UltraSignup rejects an empty gender, so U/X rows are written as X (its non-binary code).
    """
    return _csv(
        ULTRASIGNUP_HEADER,
        (
            (
                r.place if r.place is not None and r.status == "finished" else "",
                r.chip_time if r.status == "finished" else "",
                r.first_name,
                r.last_name,
                r.gender if r.gender in ("M", "F") else "X",
                "" if r.age is None else r.age,
                r.birth_date.isoformat() if r.birth_date else "",
                r.bib,
                r.city,
                r.state,
                _ULTRASIGNUP_STATUS[r.status],
            )
            for r in results
        ),
    )


def runsignup_results_csv(results: Iterable[ResultRow]) -> str:
    """RunSignup's results CSV upload columns (as Chronokeep writes them)."""
    return _csv(
        RUNSIGNUP_HEADER,
        (
            (
                r.place if r.place is not None and r.status == "finished" else "",
                r.clock_time if r.status == "finished" else r.status.upper(),
                r.chip_time if r.status == "finished" else r.status.upper(),
                r.first_name,
                r.last_name,
                r.gender if r.gender != "U" else "",
                "" if r.age is None else r.age,
                r.bib,
                r.city,
                r.state,
            )
            for r in results
        ),
    )


def athlinks_results_import(
    third_party_event_id: str,
    third_party_race_id: str,
    results: Iterable[ResultRow],
    *,
    finalize: bool = False,
) -> dict[str, Any]:
    """The body of Athlinks' `POST results/import?key=` (one leg, overall bracket only).

    Athlinks takes results as this JSON document rather than a CSV file.
    """
    entries = [
        {
            "ThirdPartyEntryId": r.source_id,
            "FirstName": r.first_name,
            "LastName": r.last_name,
            "Suffix": "",
            "Sponsor": "",
            "Tags": [r.bracket] if r.bracket else [],
            "Age": r.age,
            "Gender": r.gender if r.gender != "U" else "",
            "City": r.city,
            "State": r.state,
            "Country": r.country,
            "BibNum": r.bib,
            "LegTimes": [r.chip_time] if r.status == "finished" else [],
            "FinalTime": r.chip_time if r.status == "finished" else r.status.upper(),
            "Place": r.place if r.status == "finished" else None,
            "EntryType": "IND",
            "PrimaryBracketId": None,
            "PrimaryBracketName": r.bracket,
        }
        for r in results
    ]
    return {
        "ThirdPartyEventId": third_party_event_id,
        "ThirdPartyRaceId": third_party_race_id,
        "Finalize": finalize,
        "ImportResultsType": "DeleteExisting",
        "TotalLegs": 1,
        "Entries": entries,
        "RaceBrackets": [
            {
                "BracketId": 1,
                "ParentBracketId": 0,
                "Tag": "ALL",
                "Name": "Overall",
                "EntryType": "I",
                "RankType": "G",
                "Type": 1,
                "Gender": None,
                "MinAge": None,
                "MaxAge": None,
                "DisplayOrder": None,
                "WantsLeaderboard": True,
                "Specificity": 199,
            }
        ],
    }
