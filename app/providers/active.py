"""ACTIVE.com (ACTIVEWorks Endurance): participants from the organiser's CSV export."""

from __future__ import annotations

from typing import ClassVar

from app.providers.exports import ColumnMap, ColumnMappedImport


class ActiveExport(ColumnMappedImport):
    """ACTIVE has no public participant API; this imports the organiser's export file.

    The default column names are illustrative (no public source shows ACTIVE's real export);
    pass a ColumnMap to match the tenant's file.
    """

    name: ClassVar[str] = "ACTIVE.com"
    description: ClassVar[str] = (
        "Export-file import, not a sync: ACTIVE.com has no public participant API. Download "
        "the participant report (CSV) from ACTIVEWorks Endurance and upload it here; upload "
        "it again to pick up changes."
    )
    default_columns: ClassVar[ColumnMap | None] = ColumnMap(
        source_id=("Registration ID",),
        sub_event=("Registration Category",),
        bib=("Bib Number", "Bib"),
        first_name=("First Name",),
        last_name=("Last Name",),
        gender=("Gender",),
        birth_date=("Date of Birth", "DOB"),
        age=("Age",),
        city=("City",),
        state=("State",),
        country=("Country",),
        team=("Team",),
        status=("Registration Status",),
    )
