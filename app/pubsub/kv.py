"""A small expiring key/value store in Redis (web sessions when several processes share them)."""

from __future__ import annotations

import redis.asyncio as redis


class RedisKV:
    """Keys live under a prefix and expire by Redis TTL, so nothing needs purging."""

    def __init__(self, url: str, prefix: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    async def get(self, key: str, renew_for_s: int | None = None) -> bytes | None:
        if renew_for_s:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(self._key(key))
                pipe.expire(self._key(key), renew_for_s, xx=False)
                value, _ = await pipe.execute()
        else:
            value = await self._client.get(self._key(key))
        return value if isinstance(value, bytes) or value is None else bytes(value)

    async def set(self, key: str, value: bytes, expires_in_s: int | None) -> None:
        await self._client.set(self._key(key), value, ex=expires_in_s)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._key(key))

    async def delete_all(self) -> None:
        async for key in self._client.scan_iter(match=f"{self._prefix}*"):
            await self._client.delete(key)

    async def expires_in(self, key: str) -> int | None:
        ttl = int(await self._client.ttl(self._key(key)))
        return ttl if ttl >= 0 else None

    async def exists(self, key: str) -> bool:
        return bool(await self._client.exists(self._key(key)))

    async def close(self) -> None:
        await self._client.aclose()
