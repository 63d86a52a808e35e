"""UltraSignup: participants from the race-director registration export (CSV)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, TextIO

from app.domain.participants_in import (
    ProviderParticipant,
    RowError,
    Status,
    int_or_none,
    normalise_country,
    normalise_gender,
    parse_birth_date,
)
from app.providers.exports import Row, column_value, csv_rows

NAME = "UltraSignup"
REQUIRED = ("Order ID", "distance", "First Name", "Last Name")
CUSTOM = ("Registration Date", "order_type", "Captain")


class UltraSignupExport:
    """Reads UltraSignup's registration export; there is no participant API to sync from."""

    name: ClassVar[str] = NAME
    is_sync: ClassVar[bool] = False
    description: ClassVar[str] = (
        "Export-file import, not a sync: UltraSignup has no participant API. In the race "
        "director dashboard export the registrations (CSV) and upload the file here; upload "
        "it again to pick up changes."
    )

    def parse(self, stream: TextIO, race_id: str = "") -> Iterator[ProviderParticipant | RowError]:
        """Rows in file order; `RowError.row` is the file line (the header is line 1)."""
        for item in csv_rows(stream, NAME, REQUIRED):
            if isinstance(item, RowError):
                yield item
                continue
            try:
                yield _map(item, race_id)
            except ValueError as exc:
                yield RowError(item.line, str(exc))


def _status(row: Row) -> Status:
    if row.get("Removed").lower() == "true":
        return "cancelled"
    if row.get("Dropping from the Race") or row.get("Refunds"):
        return "cancelled"
    return "registered"


def _map(row: Row, race_id: str) -> ProviderParticipant:
    order_id = row.get("Order ID")
    if not order_id:
        raise ValueError("column 'Order ID' is empty")
    distance = row.get("distance")
    if not distance:
        raise ValueError("column 'distance' is empty")
    # "Identified Gender" (x = non-binary) takes precedence over the M/F column.
    gender = normalise_gender(row.get("Identified Gender") or row.get("gender"))
    return ProviderParticipant(
        source=NAME,
        source_id=order_id,
        race_id=race_id,
        sub_event_id=distance,
        sub_event_name=distance,
        bib=row.get("Bib"),
        first_name=row.get("First Name"),
        last_name=row.get("Last Name"),
        gender=gender,
        birth_date=column_value(("DOB",), row, parse_birth_date),
        age=column_value(("Age",), row, int_or_none),
        city=row.get("City"),
        state=row.get("State"),
        country=normalise_country(row.get("Country")),
        team=row.get("team_name"),
        status=_status(row),
        custom={h: row.get(h) for h in CUSTOM if row.get(h)},
        raw=dict(row.raw),
    )
