"""Logging in to the dashboard (``auth = "password"`` and ``"oidc"``), and what each role is offered."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import hash_password
from core.config import load_settings
from core.store import Store
from tests.conftest import FILLED_FLAGGED_FILE

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"


def accounts(home: Path, auth: str = "password", idle_minutes: float = 30) -> Store:
    (home / "calspot.toml").write_text(f'auth = "{auth}"\nsession_idle_minutes = {idle_minutes}\n')
    store = Store.open(load_settings(home))
    store.add_reviewer("Ana", "scientist", hash_password(PASSWORD), identity="ana@obs.org")
    store.add_reviewer("Ben", "reviewer", hash_password(PASSWORD))
    return store


def start() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30).run()


def log_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def _page_behind_the_login(page: str) -> None:
    """What the app does for one page (``st.navigation`` pages are functions: AppTest cannot switch to them)."""
    import importlib

    from dashboard import access, widgets

    settings = widgets.current_settings()
    reviewer = access.signed_in(settings, widgets.current_store(settings))
    access.account_bar(reviewer)
    importlib.import_module(f"dashboard.{page}").page()


def page_as(page: str, name: str) -> AppTest:
    """A page run for a session in which ``name`` has logged in."""
    at = AppTest.from_function(_page_behind_the_login, args=(page,), default_timeout=30)
    at.session_state["account"] = {"name": name, "seen": time.time()}
    return at.run()


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_nothing_is_shown_before_a_login_and_a_wrong_password_is_refused(filled_home):
    store = accounts(filled_home)
    at = start()
    assert not at.exception and not at.dataframe and at.text_input(key="login_password").proto.type == 1  # a password field
    started = time.monotonic()
    at = log_in(at, "Ana", "not her password")
    assert time.monotonic() - started >= 1.0  # failed logins are slowed down
    assert "Wrong reviewer name or password." in at.error[0].value and not at.dataframe
    now = datetime.now(UTC)
    for ago in (58, 56, 52, 44, 0):  # five failures, each after the wait of the one before, the last now
        store.try_login("Ben", "guessed", now=now - timedelta(seconds=ago))
    assert store.reviewer("Ben").failed_logins == 5
    at = log_in(at, "Ben")  # the right password, but within the 16 s the fifth failure imposes: the account waits
    assert re.search(r"try again in 1[0-6] s\.", at.error[0].value) and not at.dataframe


def test_a_verdict_carries_the_logged_in_reviewer(filled_home):
    store = accounts(filled_home)
    at = log_in(start(), "ben")
    assert not at.exception and "Logged in as **Ben** (reviewer)" in captions(at)
    assert FILLED_FLAGGED_FILE in at.selectbox(key="frame").value
    assert not [t for t in at.text_input if t.key == "reviewer"]  # no name to type: the account's is used
    at.button(key="verdict_reject").click().run()
    assert not at.exception and "recorded for Ben" in at.success[0].value
    assert [(label.verdict, label.reviewer) for label in store.labels()] == [("reject", "Ben")]


def test_a_reviewer_may_not_train_a_scientist_may(filled_home):
    store = accounts(filled_home)
    flagged = next(r for r in store.image_rows() if r.flagged)
    store.add_label(flagged.path, flagged.ext, "reject", "Ana")
    at = page_as("models", "Ben")
    assert not at.exception and "This needs the scientist role; you are logged in as Ben (reviewer)." in captions(at)
    assert next(b for b in at.button if b.label == "Train now").disabled
    at = page_as("models", "Ana")
    assert "needs the scientist role" not in captions(at) and "**Trained by:** Ana" in "\n".join(m.value for m in at.markdown)
    assert not next(b for b in at.button if b.label == "Train now").disabled


def test_the_history_page_offers_certification_to_scientists_only(filled_home):
    accounts(filled_home)
    at = page_as("history", "Ben")
    assert not at.exception and "This needs the scientist role" in captions(at)
    assert not [b for b in at.button if b.label == "Certify and rescore"]
    assert [b for b in page_as("history", "Ana").button if b.label == "Certify and rescore"]


def test_an_idle_session_and_a_disabled_account_are_logged_out(filled_home):
    store = accounts(filled_home, idle_minutes=1)
    at = log_in(start(), "Ana")
    assert at.dataframe
    at.session_state["account"] = {"name": "Ana", "seen": time.time() - 61}
    at.run()
    assert "logged out after 1 minutes without activity" in at.info[0].value and not at.dataframe
    at = log_in(at, "Ana")
    assert at.dataframe
    store.set_reviewer_active("Ana", False)
    at.run()
    assert "The account Ana is disabled" in at.info[0].value and not at.dataframe


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"is_logged_in": False}, "log in"),
        ({"is_logged_in": True, "email": "ANA@obs.org", "name": "Ana P."}, "Ana"),
        ({"is_logged_in": True, "email": "mallory@elsewhere.org"}, "not an active calspot reviewer"),
    ],
)
def test_an_identity_providers_user_logs_in_as_the_account_of_that_address(filled_home, user, expected):
    accounts(filled_home, auth="oidc")
    at = AppTest.from_file(APP, default_timeout=30)
    at.user = user
    at.run()
    assert not at.exception
    if expected == "log in":
        assert [b.label for b in at.button] == ["Log in"] and not at.dataframe
    elif expected == "Ana":
        assert "Logged in as **Ana** (scientist)" in captions(at) and at.dataframe
    else:
        assert expected in at.error[0].value and "mallory@elsewhere.org" in at.error[0].value and not at.dataframe
