"""``calspot reviewers``: the accounts reviewers log in with when ``auth`` is ``password`` or ``oidc``.

Whoever can run calspot on the home's machine manages its accounts (as they can read
its store). A password is asked twice on a terminal, or read as one line from
standard input (``printf '%s\\n' "$PASSWORD" | calspot reviewers add ...``), and only
its scrypt hash is stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from .accounts import ROLES, Reviewer, check_password, hash_password


def add_reviewers_parser(sub: argparse._SubParsersAction) -> None:
    """The ``reviewers`` command and its actions."""
    reviewers = sub.add_parser("reviewers", help="reviewer accounts for auth = password or oidc: add, list, disable, enable, password")
    actions = reviewers.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="a new account (the password is asked, or read from standard input)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=ROLES, default="reviewer", help="reviewer: verdicts; scientist: also train and certify; admin")
    add.add_argument("--identity", default="", metavar="EMAIL", help="the identity provider's user that logs in as NAME (auth = oidc)")
    add.add_argument("--no-password", action="store_true", help="log in only through the identity provider")
    actions.add_parser("list", help="every account, its role and whether it may log in")
    for action, text in (("disable", "the account may no longer log in (its verdicts stay)"), ("enable", "the account may log in again")):
        actions.add_parser(action, help=text).add_argument("name", metavar="NAME")
    actions.add_parser("password", help="set a new password (asked, or read from standard input)").add_argument("name", metavar="NAME")


def run_reviewers(args: argparse.Namespace, store) -> int:
    """Do what ``calspot reviewers ACTION`` asks; user errors raise ValueError with one line."""
    if args.action == "add":
        password_hash = None if args.no_password else hash_password(read_password(f"password for {args.name}: "))
        reviewer = store.add_reviewer(args.name, args.role, password_hash, args.identity)
        print(f"added {describe(reviewer)}")
    elif args.action == "list":
        for reviewer in store.reviewers():
            print(describe(reviewer))
    elif args.action == "password":
        _known(store, args.name)
        store.set_password(args.name, hash_password(read_password(f"new password for {args.name}: ")))
        print(f"password of {args.name} changed")
    else:
        _known(store, args.name)
        reviewer = store.set_reviewer_active(args.name, args.action == "enable")
        print(f"{args.action}d {describe(reviewer)}")
    return 0


def describe(reviewer: Reviewer) -> str:
    """One line: name, role, how they log in, and whether they may."""
    ways = [w for w, has in (("password", reviewer.has_password), (f"identity {reviewer.identity}", reviewer.identity)) if has]
    state = "active" if reviewer.active else "disabled"
    return f"{reviewer.name:20} {reviewer.role:9} {state:8} {', '.join(ways) or 'no way to log in'}"


def read_password(prompt: str) -> str:
    """A password: asked twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    return check_password(password)


def _known(store, name: str) -> None:
    if store.reviewer(name) is None:
        raise ValueError(f"no reviewer called {name!r}")
