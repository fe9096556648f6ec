"""Who is using the dashboard: the login, the idle timeout, and what the reviewer's role allows.

With ``auth = "none"`` (a single-user home) nobody logs in and the forms ask for a
name, as they always did. With ``auth = "password"`` the dashboard shows a login form
until a reviewer account (``calspot reviewers add``) logs in; with ``auth = "oidc"``
the site's identity provider logs people in (Streamlit's ``st.login``, configured in
``.streamlit/secrets.toml``) and the provider's e-mail address names the account
(``calspot reviewers add NAME --identity ADDRESS``). Either way a verdict carries the
logged-in reviewer, a session ends after ``session_idle_minutes`` without a click,
and training, activating a model and certifying a change need the scientist role.
Session-state keys: ``account`` (name and last activity of who is logged in) and
``login_message`` (why the login form is shown again).
"""

from __future__ import annotations

import math
import time

import streamlit as st

from core.accounts import NEEDED_ROLE, Reviewer
from core.config import Settings
from core.store import Store
from dashboard import formatting

ACCOUNT_KEY = "account"
MESSAGE_KEY = "login_message"
FAILED_LOGIN_DELAY_S = 1.0


def signed_in(settings: Settings, store: Store) -> Reviewer | None:
    """The reviewer using this session (None with ``auth = "none"``); otherwise the login, and the page stops.

    The account is read again on every rerun, so that a reviewer disabled or given
    another role meanwhile is logged out or changes at once.
    """
    if settings.auth == "none":
        return None
    account = st.session_state.get(ACCOUNT_KEY)
    now = time.time()
    if account and now - account["seen"] > settings.session_idle_minutes * 60:
        st.session_state.pop(ACCOUNT_KEY)
        st.session_state[MESSAGE_KEY] = f"You were logged out after {settings.session_idle_minutes:g} minutes without activity."
        if settings.auth == "oidc" and st.user.is_logged_in:
            st.logout()
        account = None
    if account:
        reviewer = store.reviewer(account["name"])
        if reviewer is not None and reviewer.active:
            account["seen"] = now
            return reviewer
        st.session_state.pop(ACCOUNT_KEY)
        st.session_state[MESSAGE_KEY] = f"The account {account['name']} is disabled: ask an admin."
    if settings.auth == "oidc":
        return _provider_login(store)
    _password_login(store)
    return None


def logged_in(store: Store) -> Reviewer | None:
    """The active account logged in to this session (None without accounts: the app has let the page run)."""
    account = st.session_state.get(ACCOUNT_KEY)
    if not account:
        return None
    reviewer = store.reviewer(account["name"])
    return reviewer if reviewer is not None and reviewer.active else None


def may(reviewer: Reviewer | None, action: str) -> bool:
    """Whether the session may do ``action`` (``train``, ``activate``, ``certify``...): anyone without accounts."""
    return reviewer is None or reviewer.may(action)


def refusal(reviewer: Reviewer | None, action: str) -> str:
    """Why ``action`` is not offered to this reviewer, in one sentence."""
    role = NEEDED_ROLE[action]
    who = f"{reviewer.name} ({reviewer.role})" if reviewer else "you"
    return f"This needs the {role} role; you are logged in as {who}."


def account_bar(reviewer: Reviewer | None) -> None:
    """Who is logged in, with a button to log out (nothing without accounts)."""
    if reviewer is None:
        return
    name, button = st.columns([6, 1])
    with name:
        st.caption(f"Logged in as **{formatting.escape_markdown(reviewer.name)}** ({reviewer.role})")
    with button:
        st.button("Log out", key="log_out", on_click=log_out)


def log_out() -> None:
    """Forget the account of this session (and the provider's cookie, if it logged in through one)."""
    st.session_state.pop(ACCOUNT_KEY, None)
    if st.user.get("is_logged_in"):
        st.logout()


def acting_name(reviewer: Reviewer | None, typed: str) -> str:
    """The name a verdict or a certification carries: the logged-in reviewer's, else what was typed."""
    return reviewer.name if reviewer is not None else typed.strip()


def _remember(reviewer: Reviewer) -> None:
    st.session_state[ACCOUNT_KEY] = {"name": reviewer.name, "seen": time.time()}
    st.session_state.pop(MESSAGE_KEY, None)


def _password_login(store: Store) -> None:
    """The login form; a reviewer who logs in is remembered and the page runs again."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("calspot")
        if message := st.session_state.get(MESSAGE_KEY):
            st.info(message)
        with st.form("login"):
            name = st.text_input("Reviewer", key="login_name")
            password = st.text_input("Password", type="password", key="login_password")
            submitted = st.form_submit_button("Log in", type="primary")
        if submitted:
            reviewer, wait = store.try_login(name, password)
            if reviewer is not None:
                _remember(reviewer)
                st.rerun()
            time.sleep(FAILED_LOGIN_DELAY_S)
            refused = "Wrong reviewer name or password."
            if wait > 0:
                refused += f" After failed logins this account waits: try again in {math.ceil(wait)} s."
            st.error(refused)
        st.caption("Accounts are made by an admin: `calspot reviewers add NAME --role reviewer|scientist|admin`.")
    st.stop()


def _provider_login(store: Store) -> Reviewer:
    """The identity provider's login; its user must be a calspot reviewer."""
    if not st.user.get("is_logged_in"):
        st.title("calspot")
        if message := st.session_state.get(MESSAGE_KEY):
            st.info(message)
        st.button("Log in", key="log_in", type="primary", on_click=st.login)
        st.stop()
    identity = str(st.user.get("email") or "")
    reviewer = store.reviewer_for_identity(identity) if identity else None
    if reviewer is None or not reviewer.active:
        st.title("calspot")
        shown = formatting.escape_markdown(identity) if identity else "This login"
        st.error(
            f"{shown} is not an active calspot reviewer. An admin adds it with "
            f"`calspot reviewers add NAME --role reviewer --identity ADDRESS` (ADDRESS: {shown})."
        )
        st.button("Log out", key="log_out", on_click=st.logout)
        st.stop()
    _remember(reviewer)
    return reviewer
