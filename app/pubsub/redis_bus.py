"""Redis pub/sub fan-out between app workers and collectors on any number of machines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from redis.exceptions import RedisError


class _RedisSubscription:
    def __init__(self, pubsub: redis.client.PubSub) -> None:
        self._pubsub = pubsub

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        async for msg in self._pubsub.listen():
            if msg["type"] == "message":
                channel = msg["channel"]
                yield (channel.decode() if isinstance(channel, bytes) else channel, msg["data"])


class RedisBus:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)

    async def publish(self, channel: str, message: bytes) -> None:
        await self._client.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self._client.pubsub()
        await pubsub.subscribe(*channels)
        # Wait for the server's confirmations so nothing published after we return is missed.
        confirmed = 0
        while confirmed < len(set(channels)):
            msg = await pubsub.get_message(timeout=5.0)
            if msg is None:
                raise RedisError("no subscribe confirmation from Redis")
            if msg["type"] == "subscribe":
                confirmed += 1
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
