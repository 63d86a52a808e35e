from pathlib import Path

import pytest

from app.settings import Settings


def test_defaults_point_at_loopback() -> None:
    s = Settings.from_env({})
    assert s.database_url is None and s.redis_url is None
    assert s.http_host == "127.0.0.1" and s.collector_host == "127.0.0.1"
    assert (s.collector_port, s.status_port) == (61611, 61612)
    assert s.base_url == "http://127.0.0.1:8000"


def test_reads_every_variable() -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x",
            "REDIS_URL": "redis://r/0",
            "HTTP_PORT": "9000",
            "PUBLIC_BASE_URL": "https://race.example/",
            "INGEST_BATCH_ROWS": "10",
            "TIMING_TIMEZONE": "Europe/Oslo",
            "LOG_LEVEL": "debug",
        }
    )
    assert s.database_url == "postgresql://db/x" and s.redis_url == "redis://r/0"
    assert s.http_port == 9000 and s.batch_max_rows == 10
    assert s.base_url == "https://race.example"
    assert s.timing_timezone == "Europe/Oslo" and s.log_level == "DEBUG"


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="HTTP_PORT"):
        Settings.from_env({"HTTP_PORT": "eighty"})


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    first = s.with_secret().secret_key
    assert len(first) > 40
    assert s.with_secret().secret_key == first
    assert Settings(data_dir=tmp_path, secret_key="given").with_secret().secret_key == "given"


def test_credentials_key_is_generated_once_kept_and_usable(tmp_path: Path) -> None:
    from app.providers.secrets import CredentialBox

    s = Settings(data_dir=tmp_path)
    key = s.with_secret().credentials_key
    assert s.with_secret().credentials_key == key
    assert (tmp_path / "credentials_key").stat().st_mode & 0o777 == 0o600
    box = CredentialBox(key)
    assert box.decrypt(box.encrypt({"api_key": "k"})) == {"api_key": "k"}
    given = Settings(data_dir=tmp_path, credentials_key="from-env").with_secret()
    assert given.credentials_key == "from-env"
