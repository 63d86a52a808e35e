"""One HTTP exchange with a provider: timeouts, bounded 429/5xx retries, errors as domain errors."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from app.domain.provider_errors import (
    BadCredentials,
    MalformedPayload,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

SECRET_QUERY_KEYS = frozenset(
    {"api_key", "api_secret", "rsu_api_key", "tmp_key", "tmp_secret", "sp_api_key", "user_pass",
     "user_id", "client_id", "client_secret", "token", "key", "password"}
)  # fmt: skip


def redact_url(url: object) -> str:
    """The URL with every credential-looking query value replaced by ***."""
    parts = urlsplit(str(url))
    query = [
        (k, "***" if k.lower() in SECRET_QUERY_KEYS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*,: ")))


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request URL at INFO; several providers take keys in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_FILTER = _RedactHttpxUrls()
for _name in ("httpx", "httpcore"):
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded: at most `attempts` tries, never sleeping longer than `max_wait_s` at once."""

    attempts: int = 4
    max_wait_s: float = 30.0
    base_backoff_s: float = 0.5


DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
DEFAULT_RETRY = RetryPolicy()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; unreadable is None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ProviderHttp:
    """Wraps one httpx.AsyncClient for one provider; maps every failure to a ProviderError."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.retry = retry
        self._timeout = timeout
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers=dict(headers or {}),
            trust_env=False,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """Send with retries on 429 (Retry-After honoured) and 5xx; `what` names it for messages."""
        last_retry_after: float | None = None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = await self._client.request(
                    method, path, params=params, headers=headers, data=data, json=json_body
                )
            except httpx.TimeoutException:
                # `from None`: httpx's exception text may hold the URL and so a key.
                raise ProviderTimeout(self.provider, what, self._timeout.read) from None
            except httpx.TransportError as exc:
                raise ProviderUnavailable(
                    self.provider, f"could not connect for {what}: {type(exc).__name__}"
                ) from None
            status = response.status_code
            if status in (401, 403):
                raise BadCredentials(self.provider, f"HTTP {status} for {what}")
            if status == 429:
                last_retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if attempt == self.retry.attempts:
                    raise RateLimited(self.provider, last_retry_after)
                wait = last_retry_after
                if wait is None:
                    wait = self.retry.base_backoff_s * 2 ** (attempt - 1)
                if wait > self.retry.max_wait_s:
                    raise RateLimited(self.provider, last_retry_after)
                await self._sleep(wait)
                continue
            if status >= 500:
                if attempt == self.retry.attempts:
                    raise ProviderUnavailable(self.provider, f"HTTP {status} for {what}")
                await self._sleep(
                    min(self.retry.max_wait_s, self.retry.base_backoff_s * 2 ** (attempt - 1))
                )
                continue
            if status >= 400:
                raise ProviderUnavailable(self.provider, f"HTTP {status} for {what}")
            return response
        raise RateLimited(self.provider, last_retry_after)  # pragma: no cover - loop returns

    async def get_json(
        self,
        path: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        response = await self.request("GET", path, what=what, params=params, headers=headers)
        return decode_json(self.provider, what, response.content), response


def decode_json(provider: str, what: str, body: bytes) -> Any:
    """JSON from a body, gzip-sniffed (Copernico sends gzip unasked); errors name `what`."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise MalformedPayload(provider, what, f"broken gzip body ({exc})") from None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(provider, what, f"not JSON ({exc.__class__.__name__})") from None
