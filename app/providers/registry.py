"""Every provider adapter by kind, for the UI to list (and mypy to check against the Protocols)."""

from __future__ import annotations

from collections.abc import Mapping

from app.providers.active import ActiveExport
from app.providers.base import ExportFileImport, ParticipantSync
from app.providers.copernico import Copernico
from app.providers.ctlive import CtLive
from app.providers.eventbrite import Eventbrite
from app.providers.raceroster import RaceRosterExport
from app.providers.runsignup import RunSignup
from app.providers.ultrasignup import UltraSignupExport

SYNC_ADAPTERS: Mapping[str, type[ParticipantSync]] = {
    RunSignup.name: RunSignup,
    Eventbrite.name: Eventbrite,
    CtLive.name: CtLive,
    Copernico.name: Copernico,
}

EXPORT_IMPORTS: Mapping[str, type[ExportFileImport]] = {
    UltraSignupExport.name: UltraSignupExport,
    ActiveExport.name: ActiveExport,
    RaceRosterExport.name: RaceRosterExport,
}
