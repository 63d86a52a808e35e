"""A fresh loopback provider stub per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.providers.stub_server import Stub


@pytest.fixture
def stub() -> Iterator[Stub]:
    with Stub() as server:
        yield server
