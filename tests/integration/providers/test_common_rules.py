"""What every adapter shares: the interfaces, bounded rate-limit waits, non-advancing pages."""

from __future__ import annotations

import time

import pytest

from app.domain.participants_in import ProviderParticipant
from app.domain.provider_errors import MalformedPayload, RateLimited
from app.providers.active import ActiveExport
from app.providers.base import ExportFileImport, ParticipantSync, RemovedFeed
from app.providers.copernico import Copernico
from app.providers.ctlive import CtLive
from app.providers.eventbrite import Eventbrite
from app.providers.exports import ColumnMap
from app.providers.http import RetryPolicy
from app.providers.raceroster import RaceRosterExport
from app.providers.runsignup import RunSignup
from app.providers.ultrasignup import UltraSignupExport
from tests.integration.providers.stub_server import Reply, Stub

FAST = RetryPolicy(attempts=3, max_wait_s=5.0, base_backoff_s=0.05)
RSU = {"rsu_api_key": "k", "rsu_api_secret": "s"}


async def test_every_adapter_offers_its_interface() -> None:
    syncs = [
        RunSignup(RSU),
        Eventbrite({"token": "t", "organization_id": "1"}),
        CtLive({"client_id": "c", "user_id": "u", "password": "p"}),
        Copernico({"account_email": "e", "preset_name": "p"}, {}),
    ]
    for adapter in syncs:
        assert isinstance(adapter, ParticipantSync) and adapter.is_sync
        await adapter.aclose()
    assert isinstance(syncs[0], RemovedFeed)
    exports = [UltraSignupExport(), ActiveExport(), RaceRosterExport(ColumnMap(("id",)))]
    for export in exports:
        assert isinstance(export, ExportFileImport) and not export.is_sync
        assert "Export-file import, not a sync" in export.description


def test_participants_are_hashable_values() -> None:
    one = ProviderParticipant("X", "1", "r", "s", "S", custom={"a": "b"}, raw={"id": 1})
    assert hash(one) == hash(ProviderParticipant("X", "1", "r", "s", "S", custom={"a": "b"}))
    assert "raw" not in repr(one)


async def test_retry_after_beyond_the_bound_gives_up_at_once(stub: Stub) -> None:
    stub.route("GET", "/Rest/race/1")(
        lambda seen: Reply.json({}, status=429, **{"Retry-After": "3600"})
    )
    rsu = RunSignup(RSU, base_url=stub.url, retry=FAST)
    started = time.monotonic()
    with pytest.raises(RateLimited, match="It asked us to wait 3600 s") as caught:
        await rsu.race("1")
    await rsu.aclose()
    assert caught.value.retry_after_s == 3600
    assert time.monotonic() - started < 3
    assert len(stub.requests_to("/Rest/race/1")) == 1


async def test_repeated_429_is_rate_limited_after_the_last_attempt(stub: Stub) -> None:
    stub.route("GET", "/Rest/race/1")(lambda seen: Reply.json({}, status=429))
    rsu = RunSignup(RSU, base_url=stub.url, retry=FAST)
    with pytest.raises(RateLimited):
        await rsu.race("1")
    await rsu.aclose()
    assert len(stub.requests_to("/Rest/race/1")) == FAST.attempts


async def test_a_full_page_that_does_not_advance_stops_the_sync(stub: Stub) -> None:
    row = {"registration_id": 5, "user": {"first_name": "A", "last_name": "B"}}
    stub.route("GET", "/Rest/race/1")(lambda seen: Reply.json({"race": {"race_id": 1}}))
    stub.route("GET", "/Rest/race/1/participants")(
        lambda seen: Reply.json([{"event": {"event_id": 9}, "participants": [row]}])
    )
    rsu = RunSignup(RSU, base_url=stub.url, retry=FAST, page_size=1)
    with pytest.raises(MalformedPayload, match="participants page 2: a full page did not advance"):
        _ = [p async for p in rsu.participants("1")]
    await rsu.aclose()


def test_registry_lists_every_adapter_by_display_name() -> None:
    from app.providers.registry import EXPORT_IMPORTS, SYNC_ADAPTERS

    assert list(SYNC_ADAPTERS) == ["RunSignup", "Eventbrite", "CT Live", "Copernico"]
    assert list(EXPORT_IMPORTS) == ["UltraSignup", "ACTIVE.com", "Race Roster"]
