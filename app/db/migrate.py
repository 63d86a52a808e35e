"""Forward-only numbered migrations from sql/migrations, applied under an advisory lock."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import psycopg

from app.db.queries import SQL_DIR

log = logging.getLogger(__name__)
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every process migrating this database.
_LOCK_KEY = 0x52414345


def migration_files(directory: Path = SQL_DIR / "migrations") -> list[tuple[int, Path]]:
    found: list[tuple[int, Path]] = []
    for path in sorted(directory.iterdir()):
        m = _FILE.match(path.name)
        if m is None:
            if path.suffix == ".sql":
                raise ValueError(f"migration {path.name} is not named NNNN_words.sql")
            continue
        found.append((int(m.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migrations share a number")
    return found


def apply_migrations(conninfo: str) -> list[int]:
    """Apply every pending migration, each in its own transaction; return those applied."""
    applied: list[int] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, path in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text().encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (version, path.name),
                    )
                log.info("applied migration %s", path.name)
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
