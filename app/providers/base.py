"""What every provider adapter offers: an API sync, or an export-file import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import ClassVar, Protocol, TextIO, runtime_checkable

from app.domain.participants_in import (
    ProviderParticipant,
    ProviderRace,
    RemovedParticipant,
    RowError,
)


class Credentials:
    """A provider's credential dict whose repr and str never show the values."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def get(self, key: str, default: str = "") -> str:
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(f"{k}=***" for k in sorted(self._values)) + ")"

    __str__ = __repr__


@runtime_checkable
class ParticipantSync(Protocol):
    """A provider with an HTTP API we pull participants from."""

    name: ClassVar[str]
    is_sync: ClassVar[bool]

    async def list_races(self) -> list[ProviderRace]:
        """The tenant's races with their sub-events."""
        ...

    def participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[ProviderParticipant]:
        """Every participant (or those changed since `since`), page by page."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RemovedFeed(Protocol):
    """A provider that tells us which registrations were withdrawn (RunSignup)."""

    def removed_participants(
        self, race_id: str, sub_event_ids: tuple[str, ...] = (), since: datetime | None = None
    ) -> AsyncIterator[RemovedParticipant]: ...


@runtime_checkable
class ExportFileImport(Protocol):
    """A provider without a participant API: the tenant uploads the provider's export file."""

    name: ClassVar[str]
    is_sync: ClassVar[bool]
    description: ClassVar[str]

    def parse(self, stream: TextIO, race_id: str = "") -> Iterator[ProviderParticipant | RowError]:
        """Rows in file order; a bad row is a RowError (file line, header = 1), not a failure."""
        ...
