"""Locust users: CTP01 providers on a plain socket, and screens polling a display."""

from __future__ import annotations

import os
import random
import socket
import time
from datetime import UTC, datetime

from locust import HttpUser, User, between, constant, events, task

COLLECTOR = os.environ.get("LOADTEST_COLLECTOR", "127.0.0.1:61611")
DISPLAY = os.environ.get("LOADTEST_DISPLAY", "")
EVENT_ID = os.environ.get("LOADTEST_CT_EVENT_ID", "DEMO-2021")
READS_PER_SEND = int(os.environ.get("LOADTEST_READS_PER_SEND", "20"))


class CTP01Provider:
    """The provider side of a CTP01 session, blocking, as SimpleClient would speak it."""

    def __init__(self, address: str, connection_id: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.buffer = b""
        self.seq = 0
        self.connection_id = connection_id
        self._send_line("SimpleClient~0.6.0~CTP01")
        header = self._read_line().split("~")
        for _ in range(int(header[2])):
            self._read_line()
        # Answer the collector's questions until it says start.
        while True:
            command = self._read_line()
            if command.startswith("start"):
                break
            self._answer(command)
        self.sock.setblocking(False)

    def _send_line(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def _read_line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("collector closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    def _answer(self, command: str) -> None:
        if command == "getconnectionid":
            self._send_line(f"ack~getconnectionid~{self.connection_id}")
        elif command == "geteventinfo":
            self._send_line(f"ack~geteventinfo~Load test~{EVENT_ID}~Locust")
        elif command == "getlocations":
            self._send_line("ack~getlocations~FINISH")
        elif command == "ping":
            self._send_line("ack~ping")

    def answer_pending(self) -> None:
        """Keepalive: the collector pings every few seconds and drops a silent provider."""
        try:
            self.buffer += self.sock.recv(4096)
        except BlockingIOError:
            return
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._answer(line.rstrip(b"\r").decode())

    def send_reads(self, tags: list[int]) -> int:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
        lines = []
        for tag in tags:
            self.seq += 1
            lines.append(f"CT01_33~{self.seq}~FINISH~{tag}~{now}~1~0D4E5F~1\r\n")
        payload = "".join(lines).encode()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(payload)
        finally:
            self.sock.setblocking(False)
        return len(payload)

    def close(self) -> None:
        self.sock.close()


class ProviderUser(User):
    """A timing point pushing finish reads over its own CTP01 connection."""

    wait_time = constant(0.5)

    def on_start(self) -> None:
        self.provider = CTP01Provider(COLLECTOR, f"locust-{id(self):x}")

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
    """A screen that cannot hold SSE and polls the display fragment with its ETag."""

    wait_time = between(1.5, 2.5)

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
