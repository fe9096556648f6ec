"""Reviewer accounts: roles, what each role may do, memory-hard password hashes, slowed-down failed logins.

With ``auth = "password"`` (or ``"oidc"``) a verdict carries the logged-in reviewer,
not a typed name. Roles are ordered: a *reviewer* gives verdicts; a *scientist* also
trains models, activates one and certifies a change; an *admin* also manages the
accounts. Passwords are kept only as scrypt hashes (:func:`hashlib.scrypt`, memory-hard:
16 MiB and a fresh salt per password), compared in constant time. After failed logins
an account waits before the next try, longer after each failure
(:func:`login_wait_s`), so that guessing is slow whoever asks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

AUTH_MODES = ("none", "password", "oidc")
ROLES = ("reviewer", "scientist", "admin")
# What each action needs, at least.
NEEDED_ROLE = {
    "verdict": "reviewer",
    "train": "scientist",
    "activate": "scientist",
    "certify": "scientist",
    "accounts": "admin",
}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 128 * N * r bytes = 16 MiB per hash
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 8
# After the k-th failure in a row, the next try waits min(FIRST_WAIT_S * 2**(k-1), LONGEST_WAIT_S).
FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 300.0


@dataclass(frozen=True)
class Reviewer:
    """An account: its name (what verdicts carry), role, whether it may log in, and its login history."""

    name: str
    role: str
    active: bool = True
    identity: str = ""  # the identity provider's user (an e-mail address) that logs in as this reviewer
    failed_logins: int = 0
    last_failed_at: datetime | None = None
    created_at: datetime | None = None
    has_password: bool = False

    def may(self, action: str) -> bool:
        """Whether this reviewer's role allows ``action`` (see ``NEEDED_ROLE``)."""
        return self.active and role_allows(self.role, action)


def role_allows(role: str, action: str) -> bool:
    """Whether ``role`` is at least the role ``action`` needs."""
    if role not in ROLES or action not in NEEDED_ROLE:
        return False
    return ROLES.index(role) >= ROLES.index(NEEDED_ROLE[action])


def check_role(role: str) -> str:
    """The role, or a ValueError that lists the known ones."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    """The password, or a ValueError saying why it is refused."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """A self-describing scrypt hash of the password: ``scrypt$N$r$p$salt$key`` (base64)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (False for any malformed hash)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        return hmac.compare_digest(_scrypt(password, base64.b64decode(salt), int(n), int(r), int(p)), expected)
    except (ValueError, TypeError):
        return False


def login_wait_s(failed_logins: int, last_failed_at: datetime | None, now: datetime) -> float:
    """Seconds an account must still wait before its next login is tried (0: go ahead)."""
    if failed_logins <= 0 or last_failed_at is None:
        return 0.0
    wait = min(FIRST_WAIT_S * 2 ** (failed_logins - 1), LONGEST_WAIT_S)
    return max(0.0, wait - (now - last_failed_at).total_seconds())


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def authorised_name(auth: str, name: str, account: Reviewer | None, action: str) -> str:
    """The name ``action`` is recorded under: the account's when accounts are on (``auth`` is not ``none``).

    Raises
    ------
    PermissionError
        Accounts are on and ``name`` is no account, a disabled one, or one whose role
        does not allow ``action``.
    """
    name = name.strip()
    if auth == "none":
        return name
    if account is None:
        raise PermissionError(f"{name!r} is no reviewer account (auth = {auth}); an admin adds it with 'calspot reviewers add'")
    if not account.active:
        raise PermissionError(f"the reviewer account {account.name!r} is disabled")
    if not account.may(action):
        raise PermissionError(f"{action} needs the {NEEDED_ROLE[action]} role; {account.name} is a {account.role}")
    return account.name
