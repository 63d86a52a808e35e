"""`python -m collector`: a standalone collector; embedded PostgreSQL without DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from app.db.embedded import start_embedded
from app.db.migrate import apply_migrations
from app.settings import Settings
from collector.server import run_collector


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings.database_url:
        settings = replace(settings, database_url=start_embedded(settings.data_dir))
    assert settings.database_url
    apply_migrations(settings.database_url)
    asyncio.run(run_collector(settings))


if __name__ == "__main__":
    main()
