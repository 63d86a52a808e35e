"""Configuration read once from the environment and passed explicitly everywhere."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _int(environ, name, default)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    # None means: start an embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # None means: an in-process bus, so app and collector must share one process.
    redis_url: str | None = None
    data_dir: Path = Path("var")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    public_base_url: str = ""
    secret_key: str = field(default="", repr=False)
    collector_host: str = "127.0.0.1"
    collector_port: int = 61611
    status_port: int = 61612
    # An ingest batch takes the reads queued when it starts, up to batch_max_rows, waiting at
    # most batch_max_ms for more. 0 is group commit: no waiting; reads that arrive while a
    # batch commits form the next one, so batches grow with the rate and a read in a quiet
    # moment is stored (and on screens) at once.
    batch_max_rows: int = 2000
    batch_max_ms: int = 0
    # Zone for provider times that carry none (CTP01 never sends one).
    timing_timezone: str = "UTC"
    # The time-format setting asked of every provider: iso, normal, unix or msecs.
    ctp_time_format: str = "iso"
    # Where reads wait while the database is away; default: <data_dir>/spool.
    spool_dir: Path | None = None
    # Provider connections at once; more are refused so a flood cannot exhaust memory.
    max_connections: int = 1000
    # A timing point with no read for this long is shown as silent (red within 30 s).
    silent_after_s: int = 25
    # Where the web app reads decoder health; default: the collector's status port here.
    collector_status_url: str = ""
    # Sessions idle this many days are ended, archived ones this old deleted (hourly).
    session_retention_days: int = 7
    db_pool_min: int = 2
    db_pool_max: int = 10
    # `racedisplay run` with Redis: this many web processes share HTTP_PORT (SO_REUSEPORT).
    web_workers: int = 2
    log_level: str = "INFO"
    # Fernet key for tenants' provider credentials at rest; empty: saving/reading them fails.
    credentials_key: str = field(default="", repr=False)
    # Each tenant's image library may hold this many megabytes (of re-encoded images).
    image_quota_mb: int = 200
    # Provider API base URLs; empty means the provider's public address (tests use loopback).
    runsignup_base_url: str = ""
    eventbrite_base_url: str = ""
    ctlive_base_url: str = ""
    copernico_base_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            data_dir=Path(env.get("RACEDISPLAY_DATA_DIR") or d.data_dir),
            http_host=env.get("HTTP_HOST") or d.http_host,
            http_port=_int(env, "HTTP_PORT", d.http_port),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
            secret_key=env.get("SECRET_KEY") or "",
            collector_host=env.get("COLLECTOR_HOST") or d.collector_host,
            collector_port=_int(env, "COLLECTOR_PORT", d.collector_port),
            status_port=_int(env, "STATUS_PORT", d.status_port),
            batch_max_rows=_int(env, "INGEST_BATCH_ROWS", d.batch_max_rows),
            batch_max_ms=_int(env, "INGEST_BATCH_MS", d.batch_max_ms),
            timing_timezone=env.get("TIMING_TIMEZONE") or d.timing_timezone,
            ctp_time_format=(env.get("CTP_TIME_FORMAT") or d.ctp_time_format).lower(),
            spool_dir=Path(env["COLLECTOR_SPOOL_DIR"]) if env.get("COLLECTOR_SPOOL_DIR") else None,
            max_connections=_int(env, "COLLECTOR_MAX_CONNECTIONS", d.max_connections),
            silent_after_s=_int(env, "SILENT_AFTER_S", d.silent_after_s),
            collector_status_url=env.get("COLLECTOR_STATUS_URL") or "",
            session_retention_days=_positive(
                env, "SESSION_RETENTION_DAYS", d.session_retention_days
            ),
            db_pool_min=_int(env, "DB_POOL_MIN", d.db_pool_min),
            db_pool_max=_int(env, "DB_POOL_MAX", d.db_pool_max),
            web_workers=_positive(env, "WEB_WORKERS", d.web_workers),
            log_level=(env.get("LOG_LEVEL") or d.log_level).upper(),
            credentials_key=(env.get("RACEDISPLAY_CREDENTIALS_KEY") or "").strip(),
            image_quota_mb=_positive(env, "IMAGE_QUOTA_MB", d.image_quota_mb),
            runsignup_base_url=(env.get("RUNSIGNUP_BASE_URL") or "").rstrip("/"),
            eventbrite_base_url=(env.get("EVENTBRITE_BASE_URL") or "").rstrip("/"),
            ctlive_base_url=(env.get("CTLIVE_BASE_URL") or "").rstrip("/"),
            copernico_base_url=(env.get("COPERNICO_BASE_URL") or "").rstrip("/"),
        )

    def with_secret(self) -> Settings:
        """Fill a missing SECRET_KEY and RACEDISPLAY_CREDENTIALS_KEY from files kept in
        data_dir, so restarts keep logins and stored provider credentials stay readable."""
        return replace(
            self,
            secret_key=self.secret_key or self._kept("secret_key", secrets.token_urlsafe(48)),
            # A Fernet key: 32 random bytes, url-safe base64.
            credentials_key=self.credentials_key
            or self._kept(
                "credentials_key", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            ),
        )

    def _kept(self, name: str, fresh: str) -> str:
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(fresh)
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def status_url(self) -> str:
        return self.collector_status_url or f"http://127.0.0.1:{self.status_port}/status"

    @property
    def collector_spool_dir(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"
