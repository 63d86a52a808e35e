"""The collector policy of long-running processes (app/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.heap import YOUNG_THRESHOLD, freeze_startup_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_startup_objects_leave_the_collections_and_young_ones_wait_longer(
    restored_gc: None,
) -> None:
    kept = [{"startup": i} for i in range(1000)]
    freeze_startup_heap()
    young = {id(o) for g in range(3) for o in gc.get_objects(g)}
    assert not any(id(o) in young for o in kept), "startup objects are still walked"
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    # Cyclic garbage made after the freeze is still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
