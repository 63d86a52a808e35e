"""The provider side of a CTP01 session on a plain blocking socket, as SimpleClient speaks it.

Used by the Locust users (gevent patches the socket) and nothing else; no asyncio here.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime


class CTP01Provider:
    """Greets, answers the collector's questions, waits for `start`, then pushes lines."""

    def __init__(
        self,
        address: str,
        connection_id: str,
        *,
        event_id: str,
        locations: Sequence[str] = ("FINISH",),
        event_name: str = "Load test",
        timeout: float = 10.0,
    ) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.buffer = b""
        self.seq = 0
        self.connection_id = connection_id
        self.event_id = event_id
        self.event_name = event_name
        self.locations = list(locations)
        # What the collector's `start` asked for: {location: first seq wanted}, if it said.
        self.resume: dict[str, int] = {}
        self._send_line("SimpleClient~0.6.0~CTP01")
        header = self._read_line().split("~")
        for _ in range(int(header[2])):
            self._read_line()
        # Answer the collector's questions until it says start.
        while True:
            command = self._read_line()
            if command.startswith("start"):
                self._note_start(command)
                break
            self._answer(command)
        self.sock.setblocking(False)

    def _note_start(self, command: str) -> None:
        parts = command.split("~")
        if len(parts) >= 3 and parts[2].strip().isdigit():
            self.resume[parts[1]] = int(parts[2])

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
            self._send_line(f"ack~geteventinfo~{self.event_name}~{self.event_id}~Locust")
        elif command == "getlocations":
            self._send_line("ack~getlocations~" + "~".join(self.locations))
        elif command == "ping":
            self._send_line("ack~ping")
        elif command.startswith("start"):
            self._note_start(command)

    def answer_pending(self) -> None:
        """Keepalive: the collector pings every few seconds and drops a silent provider."""
        try:
            chunk = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            raise ConnectionError("collector closed the connection")
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self._answer(line.rstrip(b"\r").decode())

    def send_lines(self, lines: Sequence[str]) -> int:
        """CRLF-terminated lines in one write; returns the bytes sent."""
        payload = "".join(line + "\r\n" for line in lines).encode()
        self.sock.setblocking(True)
        try:
            self.sock.sendall(payload)
        finally:
            self.sock.setblocking(False)
        return len(payload)

    def send_reads(self, tags: Sequence[int | str], location: str = "FINISH") -> int:
        """Reads stamped now (iso, UTC), numbered on from the last."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
        lines = []
        for tag in tags:
            self.seq += 1
            lines.append(f"CT01_33~{self.seq}~{location}~{tag}~{now}~1~0D4E5F~1")
        return self.send_lines(lines)

    def close(self) -> None:
        self.sock.close()
