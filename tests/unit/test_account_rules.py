"""The role rules and one-time link checks, without a database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.accounts import (
    Member,
    check_invite,
    check_password,
    check_remove,
    check_role_change,
    clean_email,
    clean_slug,
    link_problem,
    looks_like_token,
    new_token,
)
from app.domain.errors import Forbidden, InvalidInput

NOW = datetime(2026, 5, 17, 12, 0, tzinfo=UTC)


def member(id: int, role: str) -> Member:
    return Member(id, f"u{id}@x.test", f"User {id}", role, NOW)


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    token, hashed = new_token()
    assert looks_like_token(token)
    assert hashed == hashlib.sha256(token.encode()).hexdigest()
    assert token not in hashed
    assert new_token()[0] != token
    assert not looks_like_token("short") and not looks_like_token("a/b" * 20)


def test_link_problems_in_plain_words() -> None:
    later = NOW + timedelta(hours=1)
    assert link_problem(NOW, later, None) is None
    assert "used already" in (link_problem(NOW, later, NOW) or "")
    assert "withdrawn" in (link_problem(NOW, later, None, NOW) or "")
    assert "expired" in (link_problem(later, later, None) or "")


def test_only_owners_invite_owners_and_operators_invite_nobody() -> None:
    check_invite("owner", "owner")
    check_invite("admin", "admin")
    check_invite("admin", "operator")
    with pytest.raises(Forbidden, match="invite another owner"):
        check_invite("admin", "owner")
    with pytest.raises(Forbidden):
        check_invite("operator", "operator")


def test_the_last_owner_stays() -> None:
    owner = member(1, "owner")
    with pytest.raises(Forbidden, match="last owner"):
        check_role_change("owner", owner, "admin", owners=1)
    check_role_change("owner", owner, "admin", owners=2)
    with pytest.raises(Forbidden, match="Only an owner"):
        check_role_change("admin", member(2, "operator"), "admin", owners=1)
    with pytest.raises(Forbidden, match="last owner"):
        check_remove(9, "owner", owner, owners=1)
    check_remove(9, "owner", owner, owners=2)
    with pytest.raises(Forbidden, match="remove an owner"):
        check_remove(9, "admin", owner, owners=2)
    with pytest.raises(Forbidden, match="yourself"):
        check_remove(1, "owner", owner, owners=2)
    check_remove(1, "admin", member(2, "admin"), owners=1)


def test_input_checks() -> None:
    assert clean_email("  Ann@Example.test ") == "Ann@Example.test"
    assert clean_slug(" Harbor-Timing ") == "harbor-timing"
    for bad_email in ("", "ann", "ann@", "a b@x.test"):
        with pytest.raises(InvalidInput):
            clean_email(bad_email)
    for bad_slug in ("", "a", "-lead", "with space", "x" * 64):
        with pytest.raises(InvalidInput):
            clean_slug(bad_slug)
    check_password("0123456789")
    with pytest.raises(InvalidInput, match="at least 10"):
        check_password("012345678")
