"""The bus interface: publish bytes on a channel, subscribe to channels as an async stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...


class Bus(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """Messages published after the subscription is live, as (channel, message)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
