"""Provider edge rules without I/O: normalising, redaction, Retry-After, results files, secrets."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.domain.participants_in import (
    ResultRow,
    fix_mojibake,
    normalise_country,
    normalise_gender,
    parse_birth_date,
)
from app.domain.provider_errors import BadCredentials, CredentialsKeyError, MalformedPayload
from app.providers.base import Credentials
from app.providers.http import redact_url, retry_after_seconds
from app.providers.results_out import (
    athlinks_results_import,
    runsignup_results_csv,
    ultrasignup_results_csv,
)
from app.providers.secrets import KEY_VARIABLE, CredentialBox, new_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


@pytest.mark.parametrize(
    ("given", "want"),
    [("M", "M"), ("male", "M"), (1, "M"), ("Female", "F"), ("2", "F"), ("x", "X"),
     (9, "X"), ("non-binary", "X"), (0, "U"), ("", "U"), (None, "U"), ("mixed", "U"), (8, "U")],
)  # fmt: skip
def test_gender_map(given: object, want: str) -> None:
    assert normalise_gender(given) == want


def test_countries_dates_and_mojibake() -> None:
    assert [normalise_country(c) for c in ("USA", "us", "Canada", "Narnia", None)] == [
        "US", "US", "CA", "Narnia", ""
    ]  # fmt: skip
    assert parse_birth_date("04/18/1987") == date(1987, 4, 18)
    assert parse_birth_date("1990-04-12") == date(1990, 4, 12)
    assert parse_birth_date("") is None
    assert fix_mojibake("LucÃ\xada") == "Lucía"
    assert fix_mojibake("Lucía") == "Lucía"


def test_redact_url_hides_every_key_like_parameter() -> None:
    url = "https://x/Rest/race/1?format=json&rsu_api_key=K&api_secret=S&user_pass=P&page=2"
    assert redact_url(url) == (
        "https://x/Rest/race/1?format=json&rsu_api_key=***&api_secret=***&user_pass=***&page=2"
    )


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_credentials_and_errors_never_show_values() -> None:
    creds = Credentials({"api_key": "k-123", "api_secret": "s-456"})
    assert repr(creds) == str(creds) == "Credentials(api_key=***, api_secret=***)"
    err = BadCredentials("RunSignup", "Key authentication failed")
    assert repr(err) == (
        "BadCredentials(provider='RunSignup', message='RunSignup rejected the saved credentials "
        "(Key authentication failed). Check the API key/secret in the provider settings.')"
    )
    assert str(MalformedPayload("CT Live", "entries page 3", "field 'x' is missing")) == (
        "CT Live sent data we cannot read: entries page 3: field 'x' is missing."
    )


def test_credential_box_round_trip_and_clear_key_errors() -> None:
    key = new_key()
    box = CredentialBox.from_env({KEY_VARIABLE: key})
    token = box.encrypt({"rsu_api_key": "k", "rsu_api_secret": "s"})
    assert b"rsu_api_secret" not in token
    assert box.decrypt(token) == {"rsu_api_key": "k", "rsu_api_secret": "s"}
    assert key not in repr(box)
    with pytest.raises(CredentialsKeyError, match=f"{KEY_VARIABLE} is not set"):
        CredentialBox.from_env({})
    with pytest.raises(CredentialsKeyError, match="is not a valid key") as bad:
        CredentialBox("not-a-key")
    assert "not-a-key" not in str(bad.value)
    with pytest.raises(CredentialsKeyError, match="not the key they were stored with"):
        CredentialBox(new_key()).decrypt(token)


def results() -> list[ResultRow]:
    return [
        ResultRow(place=12, bib="1001", first_name="Avery", last_name="Testrunner", gender="F",
                  age=36, chip_time="00:47:05", clock_time="00:47:20", city="Moorestown",
                  state="NJ", country="USA", birth_date=date(1990, 4, 12), source_id="p-31001",
                  bracket="F35-39"),
        ResultRow(place=None, bib="0099", first_name="Lee", last_name="Sample", gender="U",
                  age=61, city="Moline", state="IL", status="dnf", source_id="p-31002"),
    ]  # fmt: skip


def test_ultrasignup_results_csv() -> None:
    assert ultrasignup_results_csv(results()) == (
        "place,time,first,last,gender,age,dob,bib,city,state,status\r\n"
        "12,00:47:05,Avery,Testrunner,F,36,1990-04-12,1001,Moorestown,NJ,1\r\n"
        ",,Lee,Sample,X,61,,0099,Moline,IL,2\r\n"
    )


def test_runsignup_results_csv() -> None:
    assert runsignup_results_csv(results()) == (
        "place,clock time,chip time,first,last,gender,age,bib,city,state\r\n"
        "12,00:47:20,00:47:05,Avery,Testrunner,F,36,1001,Moorestown,NJ\r\n"
        ",DNF,DNF,Lee,Sample,,61,0099,Moline,IL\r\n"
    )


def test_athlinks_import_matches_the_spec_fixture() -> None:
    want = json.loads((FIXTURES / "athlinks_results_import.json").read_text())
    got = athlinks_results_import(
        "rd-tenant7-evt-2026-001", "rd-tenant7-evt-2026-001-10K", results()[:1]
    )
    assert got == want
