"""A tiny HTTP/1.1 server for the collector's /status and /health, with no web framework."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = 5.0
_MAX_HEAD = 8192
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        status: Callable[[int | None], Awaitable[dict[str, Any]]],
        health: Callable[[], Awaitable[tuple[bool, str]]],
        metrics: Callable[[], Awaitable[str]],
    ) -> None:
        self._host = host
        self._port = port
        self._status = status
        self._health = health
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=_MAX_HEAD
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                status, content_type, body = await self._route(head)
                head_only = head.startswith(b"HEAD ")
                writer.write(
                    (
                        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                        f"Content-Type: {content_type}\r\n"
                        f"Content-Length: {len(body)}\r\n"
                        "Cache-Control: no-store\r\n"
                        "Connection: close\r\n\r\n"
                    ).encode()
                    + (b"" if head_only else body)
                )
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except Exception:
            log.exception("status request failed")
        finally:
            writer.close()

    async def _route(self, head: bytes) -> tuple[int, str, bytes]:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return 400, "text/plain", b"bad request\n"
        method, (target, _, query) = parts[0], parts[1].partition(b"?")
        if method in (b"GET", b"HEAD"):
            if target == b"/status":
                # ?event_id=N: only what feeds that event (the app's operations page asks so).
                event_id = parse_qs(query.decode("ascii", "replace")).get("event_id", [""])[0]
                if event_id and not event_id.isdigit():
                    return 400, "text/plain", b"event_id must be a number\n"
                status = await self._status(int(event_id) if event_id else None)
                body = json.dumps(status, indent=2, default=str).encode()
                return 200, "application/json", body + b"\n"
            if target == b"/metrics":
                body = (await self._metrics()).encode()
                return 200, "text/plain; version=0.0.4; charset=utf-8", body
            if target == b"/health":
                ok, reason = await self._health()
                return (
                    (200, "text/plain", b"ok\n")
                    if ok
                    else (503, "text/plain", f"{reason}\n".encode())
                )
        return 404, "text/plain", b"not found\n"
