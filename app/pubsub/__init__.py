"""Fan-out between processes: the only package that imports redis."""

from __future__ import annotations

from app.pubsub.bus import Bus
from app.pubsub.memory import MemoryBus


def create_bus(redis_url: str | None) -> Bus:
    """Redis when configured (several processes), otherwise in-process (one process)."""
    if redis_url:
        from app.pubsub.redis_bus import RedisBus

        return RedisBus(redis_url)
    return MemoryBus()


__all__ = ["Bus", "MemoryBus", "create_bus"]
