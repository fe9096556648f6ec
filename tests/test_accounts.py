"""Reviewer accounts' rules: memory-hard password hashes, roles, and the wait after failed logins."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from core.accounts import (
    LONGEST_WAIT_S,
    Reviewer,
    authorised_name,
    check_password,
    hash_password,
    login_wait_s,
    role_allows,
    verify_password,
)


def test_a_password_is_kept_only_as_a_salted_memory_hard_hash():
    stored = hash_password("correct horse battery")
    scheme, n, r, p, salt, key = stored.split("$")
    assert scheme == "scrypt" and 128 * int(n) * int(r) >= 16 * 2**20 and int(p) >= 1
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    assert "correct horse" not in stored and hash_password("correct horse battery") != stored  # a fresh salt each time
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY") and not verify_password(stored, "")


@pytest.mark.parametrize("stored", ["", "plain-text-password", "md5$abc", "scrypt$16384$8$1$!!$??", "scrypt$x$8$1$AAAA$AAAA"])
def test_a_malformed_hash_never_lets_anyone_in(stored):
    assert not verify_password(stored, "plain-text-password")


def test_short_passwords_are_refused():
    with pytest.raises(ValueError, match="at least 8 characters"):
        check_password("1234567")
    assert check_password("12345678") == "12345678"


def test_each_failure_doubles_the_wait_up_to_a_ceiling():
    failed = datetime(2026, 1, 1, tzinfo=UTC)
    assert login_wait_s(0, None, failed) == 0
    assert [login_wait_s(k, failed, failed) for k in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert login_wait_s(30, failed, failed) == LONGEST_WAIT_S
    assert login_wait_s(3, failed, failed + timedelta(seconds=3)) == pytest.approx(1)
    assert login_wait_s(3, failed, failed + timedelta(seconds=10)) == 0


def test_roles_are_ordered_reviewer_scientist_admin():
    assert role_allows("reviewer", "verdict") and not role_allows("reviewer", "train")
    assert all(role_allows("scientist", action) for action in ("verdict", "train", "activate", "certify"))
    assert not role_allows("scientist", "accounts") and role_allows("admin", "accounts")
    assert not role_allows("guest", "verdict") and not role_allows("admin", "launch")


def test_with_accounts_on_an_action_is_recorded_under_an_allowed_account():
    ana = Reviewer("Ana", "scientist")
    assert authorised_name("none", " anyone ", None, "train") == "anyone"
    assert authorised_name("password", "ana", ana, "train") == "Ana"
    with pytest.raises(PermissionError, match="'zed' is no reviewer account"):
        authorised_name("password", "zed", None, "verdict")
    with pytest.raises(PermissionError, match="train needs the scientist role; Ben is a reviewer"):
        authorised_name("oidc", "ben", Reviewer("Ben", "reviewer"), "train")
    with pytest.raises(PermissionError, match="disabled"):
        authorised_name("password", "ana", Reviewer("Ana", "scientist", active=False), "verdict")
