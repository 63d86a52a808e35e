"""Public display codes: short, unguessable and easy to read aloud."""

from __future__ import annotations

import secrets

# No 0/o, 1/l/i: a code gets typed from a phone photo of a TV.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 8


def new_display_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def is_display_code(value: str) -> bool:
    return len(value) == LENGTH and all(c in ALPHABET for c in value)
