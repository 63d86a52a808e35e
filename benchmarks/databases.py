"""The PostgreSQL a benchmark runs on: DATABASE_URL's server or an embedded one, and a fresh,
migrated database on it per measured path."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg

from app.db.embedded import start_embedded
from app.db.migrate import apply_migrations


def database_server(workdir: Path) -> str:
    """DATABASE_URL's server, or an embedded one in workdir."""
    return os.environ.get("DATABASE_URL") or start_embedded(workdir, dbname="postgres")


def database_url(server: str, prefix: str = "bench") -> str:
    """A fresh, migrated database on the server."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(server)
    params["dbname"] = name
    url = psycopg.conninfo.make_conninfo("", **params)
    apply_migrations(url)
    return url
