"""Provider credentials at rest: a tenant's credential dict encrypted with Fernet."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from app.domain.provider_errors import CredentialsKeyError

KEY_VARIABLE = "RACEDISPLAY_CREDENTIALS_KEY"


def new_key() -> str:
    """A fresh key to put in RACEDISPLAY_CREDENTIALS_KEY."""
    return Fernet.generate_key().decode()


class CredentialBox:
    """Encrypts and decrypts credential dicts; the key never appears in repr or errors."""

    __slots__ = ("_fernet",)

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.strip().encode())
        except (ValueError, TypeError):
            raise CredentialsKeyError(
                f"{KEY_VARIABLE} is not a valid key (it must be 32 url-safe base64-encoded "
                "bytes; make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CredentialBox:
        key = environ.get(KEY_VARIABLE, "").strip()
        if not key:
            raise CredentialsKeyError(
                f"{KEY_VARIABLE} is not set, so saved provider credentials cannot be read or "
                "stored. Set it to a Fernet key and keep it with the database backups."
            )
        return cls(key)

    def __repr__(self) -> str:
        return "CredentialBox(key=***)"

    def encrypt(self, credentials: Mapping[str, str]) -> bytes:
        payload = json.dumps(dict(credentials), sort_keys=True, separators=(",", ":"))
        return self._fernet.encrypt(payload.encode())

    def decrypt(self, token: bytes) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise CredentialsKeyError(
                f"Saved provider credentials cannot be decrypted: {KEY_VARIABLE} is not the key "
                "they were stored with (or the stored value is damaged). Restore the old key or "
                "enter the credentials again."
            ) from None
        value = json.loads(plain)
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise CredentialsKeyError("Saved provider credentials are not a text dictionary.")
        return value
