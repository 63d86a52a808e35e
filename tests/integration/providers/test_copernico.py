"""Copernico over real loopback HTTP: preset export per event (gzip, mojibake), full athlete."""

from __future__ import annotations

import gzip
import json
from datetime import date

import pytest

from app.domain.participants_in import ProviderParticipant
from app.domain.provider_errors import BadCredentials, MalformedPayload
from app.providers.copernico import Copernico
from app.providers.http import RetryPolicy
from tests.integration.providers.stub_server import Reply, Seen, Stub, fixture_bytes, fixture_json

RACE = "example-city-10k-2026"
PRESET = f"/api/races/{RACE}/preset/timer@example.com:::participants"
FAST = RetryPolicy(attempts=3, max_wait_s=5.0, base_backoff_s=0.05)
CREDS = {
    "api_key": "cop-key-Z1X2",
    "account_email": "timer@example.com",
    "preset_name": "participants",
}


def client(stub: Stub, **creds: str) -> Copernico:
    return Copernico({**CREDS, **creds}, {RACE: ["10K", "5K"]}, base_url=stub.url, retry=FAST)


def preset_row() -> ProviderParticipant:
    row = fixture_json("copernico_preset.json")[0]
    return ProviderParticipant(
        source="Copernico", source_id="10K/1503", race_id=RACE, sub_event_id="10K",
        sub_event_name="10K", bib="1503", chips=(), first_name="Lucía",
        last_name="Ejemplo Prueba", gender="F", team="Club Atletismo Ejemplo",
        status="registered", custom={"category": "F35"}, raw=row,
    )  # fmt: skip


async def test_preset_export_one_request_per_event_gzip_and_mojibake(stub: Stub) -> None:
    # The 5K preset arrives gzip-compressed without being asked, and double-encoded.
    mojibake = json.dumps(
        [{"dorsal": "2001", "name": "José", "surname": "Núñez", "gender": "male",
          "chip": "E20000172211014418900001", "club": "", "status": "notstarted"}],
        ensure_ascii=False,
    ).encode().decode("latin-1").encode()  # fmt: skip
    stub.route("GET", f"{PRESET}/10K")(lambda seen: Reply.file("copernico_preset.json"))
    stub.route("GET", f"{PRESET}/5K")(lambda seen: Reply(200, gzip.compress(mojibake)))
    cop = client(stub)
    got = [p async for p in cop.participants(RACE)]
    await cop.aclose()
    five_k_raw = json.loads(mojibake)[0]
    assert got == [
        preset_row(),
        ProviderParticipant(
            source="Copernico", source_id="5K/2001", race_id=RACE, sub_event_id="5K",
            sub_event_name="5K", bib="2001", chips=("E20000172211014418900001",),
            first_name="José", last_name="Núñez", gender="M", raw=five_k_raw,
        ),
    ]  # fmt: skip
    assert all("x-api-key" not in s.headers for s in stub.seen)  # the preset export is public


async def test_full_athlete_with_chip_array(stub: Stub) -> None:
    path = f"/api/races/{RACE}/athlete/p-000123/full"

    @stub.route("GET", path)
    def full(seen: Seen) -> Reply:
        if seen.headers.get("x-api-key") != CREDS["api_key"]:
            return Reply.json({"result": {"code": 401}}, status=401)
        return Reply(200, fixture_bytes("copernico_athlete_full.json"))

    cop = client(stub)
    got = await cop.athlete(RACE, "p-000123")
    await cop.aclose()
    assert got == [
        ProviderParticipant(
            source="Copernico", source_id="p-000123", race_id=RACE, sub_event_id="10K",
            sub_event_name="10K", bib="1503", chips=("E2000017221101441890A1B2",),
            first_name="Lucía", last_name="Ejemplo Prueba", gender="F",
            birth_date=date(1991, 3, 8), team="Club Atletismo Ejemplo", status="registered",
            vip=False, custom={"category": "F35", "wave": "1"},
            raw=fixture_json("copernico_athlete_full.json")["data"],
        )
    ]  # fmt: skip

    wrong = client(stub, api_key="cop-wrong-key")
    with pytest.raises(BadCredentials) as caught:
        await wrong.athlete(RACE, "p-000123")
    await wrong.aclose()
    assert "cop-wrong-key" not in f"{caught.value!r} {wrong!r}"


async def test_malformed_preset_names_the_event(stub: Stub) -> None:
    stub.route("GET", f"{PRESET}/10K")(lambda seen: Reply.file("copernico_preset.json"))
    stub.route("GET", f"{PRESET}/5K")(lambda seen: Reply.json({"data": [{"name": "No Bib"}]}))
    cop = client(stub)
    with pytest.raises(MalformedPayload) as caught:
        _ = [p async for p in cop.participants(RACE)]
    await cop.aclose()
    assert str(caught.value) == (
        "Copernico sent data we cannot read: preset export of event '5K', row 0: "
        "neither 'id' nor 'dorsal' is present."
    )
