"""Public display codes: short, unguessable and easy to read aloud."""

from __future__ import annotations

import re
import secrets

# No 0/o, 1/l/i: a code gets typed from a phone photo of a TV.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 8


def new_display_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def is_display_code(value: str) -> bool:
    return len(value) == LENGTH and all(c in ALPHABET for c in value)


# Provider keys: what a tenant types into SimpleClient so a provider joins one of its events.
# No 0/O, 1/I/L: they are read off a screen and typed by hand.
KEY_PREFIX = "rd-"
KEY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
KEY_LENGTH = 6
# Between the key and the location name when the key is sent as a location prefix.
KEY_SEPARATOR = "."
_KEY = re.compile(r"[Rr][Dd]-[A-Za-z0-9]{6}")


def new_provider_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def as_provider_key(value: str) -> str | None:
    """The key in its stored form if value is shaped like one (any case), else None."""
    value = value.strip()
    if not _KEY.fullmatch(value):
        return None
    return KEY_PREFIX + value[len(KEY_PREFIX) :].upper()


def split_location(name: str) -> tuple[str | None, str]:
    """'rd-7K3QX9.FINISH' → ('rd-7K3QX9', 'FINISH'); a name with no key prefix is kept whole."""
    head, sep, rest = name.partition(KEY_SEPARATOR)
    key = as_provider_key(head) if sep else None
    if key is None or not rest.strip():
        return None, name
    return key, rest.strip()
