"""Reviewer accounts: who may log in, with which role, and how their failed logins are slowed down.

Only a password's scrypt hash is kept (:mod:`core.accounts`). Accounts are never
deleted (verdicts name them): one that should no longer log in is disabled. Each
login attempt is checked and counted in one transaction, so that reviewers guessing
from several browsers at once wait like one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import func, select

from ..accounts import Reviewer, check_role, hash_password, login_wait_s, verify_password
from .database import transaction
from .direct import reviewer_account
from .queries import StorePart, session_sql
from .schema import ReviewerAccount

NAME_LENGTH = 120


class ReviewersPart(StorePart):
    """The store's reviewer accounts."""

    def add_reviewer(self, name: str, role: str, password_hash: str | None = None, identity: str = "") -> Reviewer:
        """Create an account (a password's hash for ``auth = "password"``, an identity for ``"oidc"``).

        Raises
        ------
        ValueError
            The name is empty or too long, the role unknown, or an account of this
            name (or this identity) exists already.
        """
        name = name.strip()
        if not name or len(name) > NAME_LENGTH:
            raise ValueError(f"a reviewer's name needs 1 to {NAME_LENGTH} characters")
        check_role(role)
        identity = identity.strip().lower()
        with transaction(self._sessions) as session:
            if session.scalars(select(ReviewerAccount.id).where(func.lower(ReviewerAccount.name) == name.lower())).first():
                raise ValueError(f"there is already a reviewer called {name!r}")
            if identity and session.scalars(select(ReviewerAccount.id).where(ReviewerAccount.identity == identity)).first():
                raise ValueError(f"the identity {identity!r} already logs in as another reviewer")
            account = ReviewerAccount(name=name, role=role, password_hash=password_hash, identity=identity, active=True)
            session.add(account)
            session.flush()
            return _reviewer(account)

    def reviewers(self) -> list[Reviewer]:
        """Every account, in the order they were made."""
        with self._sessions() as session:
            return [_reviewer(a) for a in session.scalars(select(ReviewerAccount).order_by(ReviewerAccount.id))]

    def reviewer(self, name: str) -> Reviewer | None:
        """The account of this name (case does not matter), or None."""
        with self._sessions() as session:
            return reviewer_account(session_sql(session), name)

    def reviewer_for_identity(self, identity: str) -> Reviewer | None:
        """The account an identity provider's user (an e-mail address) logs in as, or None."""
        with self._sessions() as session:
            account = session.scalars(select(ReviewerAccount).where(ReviewerAccount.identity == identity.strip().lower())).first()
            return None if account is None else _reviewer(account)

    def set_reviewer_active(self, name: str, active: bool) -> Reviewer:
        """Disable (or enable again) an account; raises KeyError for an unknown name."""
        with transaction(self._sessions) as session:
            account = _existing(session, name)
            account.active = active
            account.disabled_at = None if active else datetime.now(UTC)
            return _reviewer(account)

    def set_password(self, name: str, password_hash: str) -> None:
        """Replace an account's password hash; raises KeyError for an unknown name."""
        with transaction(self._sessions) as session:
            account = _existing(session, name)
            account.password_hash = password_hash
            account.failed_logins = 0

    def try_login(self, name: str, password: str, now: datetime | None = None) -> tuple[Reviewer | None, float]:
        """Check a login: the reviewer (None when refused) and the seconds to wait before another try.

        An unknown name, a disabled account and a wrong password are refused alike;
        while an account waits after failed logins, its password is not even
        checked. A success clears the failures.
        """
        now = now or datetime.now(UTC)
        with transaction(self._sessions) as session:
            account = _by_name(session, name)
            if account is None or not account.active or not account.password_hash:
                verify_password(_unknown_account_hash(), password)  # as slow as a real check: timing tells no names
                return None, 0.0
            wait = login_wait_s(account.failed_logins, _aware(account.last_failed_at), now)
            if wait > 0:
                return None, wait
            if verify_password(account.password_hash, password):
                account.failed_logins, account.last_login_at = 0, now
                return _reviewer(account), 0.0
            account.failed_logins += 1
            account.last_failed_at = now
            return None, login_wait_s(account.failed_logins, now, now)


@cache
def _unknown_account_hash() -> str:
    return hash_password("no account has this password")


def _by_name(session, name: str) -> ReviewerAccount | None:
    return session.scalars(select(ReviewerAccount).where(func.lower(ReviewerAccount.name) == name.strip().lower())).first()


def _existing(session, name: str) -> ReviewerAccount:
    """The account of this name; KeyError when there is none."""
    account = _by_name(session, name)
    if account is None:
        raise KeyError(f"no reviewer called {name!r}")
    return account


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _reviewer(account: ReviewerAccount) -> Reviewer:
    return Reviewer(
        name=account.name,
        role=account.role,
        active=account.active,
        identity=account.identity or "",
        failed_logins=account.failed_logins or 0,
        last_failed_at=_aware(account.last_failed_at),
        created_at=_aware(account.created_at),
        has_password=bool(account.password_hash),
    )
