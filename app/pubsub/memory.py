"""An in-process bus for a single process that runs both the app and the collector."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class _Queue:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item


class MemoryBus:
    # A subscriber this far behind is ended rather than allowed to grow memory; the
    # consumer then resubscribes and recovers from the database, as it would with Redis.
    def __init__(self, max_backlog: int = 10_000) -> None:
        self._subscribers: dict[str, set[_Queue]] = defaultdict(set)
        self._max_backlog = max_backlog

    async def publish(self, channel: str, message: bytes) -> None:
        for sub in list(self._subscribers.get(channel, ())):
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait((channel, message))
            except asyncio.QueueFull:
                log.warning("bus subscriber on %s fell behind; ending it", channel)
                sub.overflowed = True
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(None)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[_Queue]:
        sub = _Queue(self._max_backlog)
        for channel in channels:
            self._subscribers[channel].add(sub)
        try:
            yield sub
        finally:
            for channel in channels:
                subs = self._subscribers.get(channel)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[channel]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for subs in self._subscribers.values():
            for sub in subs:
                if not sub.queue.full():
                    sub.queue.put_nowait(None)
        self._subscribers.clear()
