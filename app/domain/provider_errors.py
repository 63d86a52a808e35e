"""Errors of talking to a registration/results provider, worded for the tenant to read."""

from __future__ import annotations

from app.domain.errors import AppError, InvalidInput, Unauthorized, Unavailable


class ProviderError(AppError):
    """Base of every provider failure; `provider` is the provider's display name.

    Messages never carry credentials or request URLs (those may hold keys in the query).
    """

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, message={self.message!r})"


class BadCredentials(ProviderError, Unauthorized):
    def __init__(self, provider: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            provider,
            f"{provider} rejected the saved credentials{extra}. "
            "Check the API key/secret in the provider settings.",
        )


class RateLimited(ProviderError, Unavailable):
    def __init__(self, provider: str, retry_after_s: float | None) -> None:
        when = f" It asked us to wait {retry_after_s:g} s." if retry_after_s is not None else ""
        super().__init__(
            provider,
            f"{provider} is limiting how often we may call it and we gave up retrying.{when} "
            "Try the import again in a few minutes.",
        )
        self.retry_after_s = retry_after_s


class ProviderTimeout(ProviderError, Unavailable):
    def __init__(self, provider: str, what: str, seconds: float | None) -> None:
        limit = f" within {seconds:g} s" if seconds is not None else ""
        super().__init__(provider, f"{provider} did not answer {what}{limit}. Try again later.")


class ProviderUnavailable(ProviderError, Unavailable):
    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(
            provider, f"{provider} is unavailable right now ({detail}). Try again later."
        )


class MalformedPayload(ProviderError, InvalidInput):
    """The provider answered, but not in the shape we know; names the page and the field."""

    def __init__(self, provider: str, where: str, reason: str) -> None:
        super().__init__(provider, f"{provider} sent data we cannot read: {where}: {reason}.")
        self.where = where
        self.reason = reason


class CredentialsKeyError(AppError):
    """The key that encrypts provider credentials at rest is missing or is not the right one."""
