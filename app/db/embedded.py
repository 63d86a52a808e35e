"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, dbname: str = "racedisplay") -> str:
    """Start (or reuse) a PostgreSQL under data_dir/pg and return a URL for dbname.

    pgserver keeps the server running for as long as a process that asked for it lives,
    and shares it between processes that point at the same folder.
    """
    import pgserver

    # pgserver logs every command it runs at INFO; only its problems are worth seeing.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")  # type: ignore[attr-defined]
    base = server.get_uri()
    with psycopg.connect(base, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    url: str = server.get_uri(dbname)
    log.info("embedded PostgreSQL at %s", pgdata)
    return url
