"""The store's reviewer accounts, on SQLite and on PostgreSQL: made once, disabled not deleted, logins counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.accounts import hash_password
from core.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def store(store_url: str) -> Store:
    store = Store(store_url)
    store.add_reviewer("Ana", "scientist", hash_password(PASSWORD))
    return store


def test_accounts_are_listed_in_order_and_names_are_unique_whatever_their_case(store):
    store.add_reviewer("Ben", "reviewer", None, identity="Ben@Obs.org")
    assert [(r.name, r.role, r.has_password, r.identity) for r in store.reviewers()] == [
        ("Ana", "scientist", True, ""),
        ("Ben", "reviewer", False, "ben@obs.org"),
    ]
    with pytest.raises(ValueError, match="already a reviewer called 'ana'"):
        store.add_reviewer("ana", "admin", None)
    with pytest.raises(ValueError, match="already logs in as another reviewer"):
        store.add_reviewer("Benjamin", "reviewer", None, identity="ben@obs.org")
    with pytest.raises(ValueError, match="unknown role"):
        store.add_reviewer("Carla", "boss", None)
    assert store.reviewer_for_identity("BEN@obs.org ").name == "Ben" and store.reviewer_for_identity("x@y") is None


def test_a_login_succeeds_with_the_password_only(store):
    reviewer, wait = store.try_login("ana", PASSWORD)
    assert reviewer.name == "Ana" and wait == 0
    assert store.try_login("Ana", "wrong password") == (None, 1.0)
    assert store.try_login("nobody", PASSWORD) == (None, 0.0)


def test_failed_logins_make_the_account_wait_even_for_the_right_password(store):
    start = datetime.now(UTC)
    assert store.try_login("Ana", "guess one", now=start)[1] == 1.0
    assert store.try_login("Ana", "guess two", now=start + timedelta(seconds=1.5))[1] == 2.0
    reviewer, wait = store.try_login("Ana", PASSWORD, now=start + timedelta(seconds=2))
    assert reviewer is None and wait == pytest.approx(1.5)
    assert store.reviewer("Ana").failed_logins == 2
    other_browser = Store(store.url)  # another dashboard process sees the same count
    reviewer, wait = other_browser.try_login("Ana", PASSWORD, now=start + timedelta(seconds=4))
    assert reviewer.name == "Ana" and wait == 0 and store.reviewer("Ana").failed_logins == 0


def test_a_disabled_account_cannot_log_in_and_can_be_enabled_again(store):
    assert not store.set_reviewer_active("ana", False).active
    assert store.try_login("Ana", PASSWORD) == (None, 0.0)
    assert store.set_reviewer_active("Ana", True).active and store.try_login("Ana", PASSWORD)[0] is not None
    with pytest.raises(KeyError):
        store.set_reviewer_active("Zed", False)


def test_a_new_password_replaces_the_old_one(store):
    store.set_password("Ana", hash_password("a brand new one"))
    assert store.try_login("Ana", PASSWORD)[0] is None
    assert store.try_login("Ana", "a brand new one", now=datetime.now(UTC) + timedelta(seconds=2))[0].name == "Ana"
