"""Whether the backing services answer: what /health reports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.db import catalog
from app.db.pool import Pool, connection
from app.domain.errors import Unavailable
from app.pubsub import Bus

_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Health:
    database: bool
    bus: bool

    @property
    def ok(self) -> bool:
        return self.database and self.bus


async def _database(pool: Pool) -> bool:
    try:
        async with asyncio.timeout(_TIMEOUT_S), connection(pool) as conn:
            return await catalog.ping(conn)
    except (Unavailable, TimeoutError):
        return False


async def _bus(bus: Bus) -> bool:
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            return await bus.ping()
    except TimeoutError:
        return False


async def check(pool: Pool, bus: Bus) -> Health:
    database, bus_ok = await asyncio.gather(_database(pool), _bus(bus))
    return Health(database=database, bus=bus_ok)
