"""Race Roster: participants from an export file (its participant API is not public)."""

from __future__ import annotations

from typing import ClassVar

from app.providers.exports import ColumnMap, ColumnMappedImport


class RaceRosterExport(ColumnMappedImport):
    """Race Roster's timer API shows events and results, but no public source documents a
    participant endpoint, so participants come from the organiser's CSV export.

    No public source shows that export's columns either: the tenant must supply the
    ColumnMap (there is deliberately no default).
    """

    name: ClassVar[str] = "Race Roster"
    description: ClassVar[str] = (
        "Export-file import, not a sync: download the participant list (CSV) from the Race "
        "Roster dashboard, upload it here and match its columns once; upload it again to "
        "pick up changes."
    )
    default_columns: ClassVar[ColumnMap | None] = None
