"""A light Locust scenario against a running platform: CTP01 providers pushing random reads on a
plain socket, and screens polling one display with its ETag.

The full scenario (SSE screens measuring read-to-screen latency, a replay of the real finish
data, directors, the naive baseline) is loadtests/scenario.py, run by `make loadtest`.
"""

from __future__ import annotations

import os
import random
import time

from ctp01 import CTP01Provider
from locust import HttpUser, User, constant, constant_pacing, events, task

COLLECTOR = os.environ.get("LOADTEST_COLLECTOR", "127.0.0.1:61611")
DISPLAY = os.environ.get("LOADTEST_DISPLAY", "")
EVENT_ID = os.environ.get("LOADTEST_CT_EVENT_ID", "DEMO-2021")
READS_PER_SEND = int(os.environ.get("LOADTEST_READS_PER_SEND", "20"))


class ProviderUser(User):
    """A timing point pushing finish reads over its own CTP01 connection."""

    wait_time = constant(0.5)

    def on_start(self) -> None:
        self.provider = CTP01Provider(COLLECTOR, f"locust-{id(self):x}", event_id=EVENT_ID)

    def on_stop(self) -> None:
        self.provider.close()

    @task
    def push_reads(self) -> None:
        start = time.perf_counter()
        exception: Exception | None = None
        size = 0
        try:
            self.provider.answer_pending()
            size = self.provider.send_reads(
                [random.randint(1, 5000) for _ in range(READS_PER_SEND)]
            )
        except OSError as exc:
            exception = exc
        events.request.fire(
            request_type="CTP01",
            name="push reads",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=size,
            exception=exception,
            context={},
        )


class PollingScreen(HttpUser):
    """A screen that cannot hold SSE and polls the display fragment with its ETag, every second."""

    wait_time = constant_pacing(1.0)

    def on_start(self) -> None:
        if not DISPLAY:
            raise RuntimeError("set LOADTEST_DISPLAY to a display code")
        self.etag = ""

    @task
    def poll(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        with self.client.get(
            f"/d/{DISPLAY}/feed", headers=headers, name="/d/[code]/feed", catch_response=True
        ) as resp:
            if resp.status_code == 200:
                self.etag = resp.headers.get("ETag", "")
                resp.success()
            elif resp.status_code == 304:
                resp.success()
            else:
                resp.failure(f"status {resp.status_code}")
