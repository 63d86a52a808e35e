import asyncio

import pytest

from app.pubsub import Bus, MemoryBus, create_bus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> Bus:
    if request.param == "memory":
        b: Bus = MemoryBus(max_backlog=4)
    else:
        b = create_bus(request.getfixturevalue("redis_url"))
    yield b  # type: ignore[misc]
    await b.close()


async def _take(sub: object, n: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    async for item in sub:  # type: ignore[attr-defined]
        got.append(item)
        if len(got) == n:
            break
    return got


async def test_every_subscriber_gets_every_message_in_order(bus: Bus) -> None:
    async with bus.subscribe("reads.event.1") as a, bus.subscribe("reads.event.1") as b:
        for i in range(3):
            await bus.publish("reads.event.1", f"m{i}".encode())
        await bus.publish("reads.event.2", b"other event")
        for sub in (a, b):
            got = await asyncio.wait_for(_take(sub, 3), 5)
            assert got == [
                ("reads.event.1", b"m0"),
                ("reads.event.1", b"m1"),
                ("reads.event.1", b"m2"),
            ]


async def test_ping(bus: Bus) -> None:
    assert await bus.ping()


async def test_memory_bus_ends_a_subscriber_that_falls_behind() -> None:
    bus = MemoryBus(max_backlog=2)
    async with bus.subscribe("c") as slow, bus.subscribe("c") as fast:
        for i in range(1, 5):
            await bus.publish("c", str(i).encode())
            assert await asyncio.wait_for(_take(fast, 1), 1) == [("c", str(i).encode())]
        # The slow one is ended rather than buffering without bound; it would
        # resubscribe and recover what it missed from the database.
        items = [item async for item in slow]  # type: ignore[attr-defined]
        assert items == []
