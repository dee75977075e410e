"""Staff passwords: argon2id hashes, and what a new password must be."""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 takes any length; a cap keeps a huge form field from costing CPU

_hasher = PasswordHasher()
# Checked against when the account does not exist, so a wrong username costs the same time as
# a wrong password and does not tell an attacker which accounts exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def one_time_password() -> str:
    """Printed once for a new account or a reset; it must be changed at first login."""
    return secrets.token_urlsafe(12)


def new_password_problem(password: str, username: str) -> str | None:
    """Why this cannot be the new password, in words for the person; None when it can."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if username.lower() in password.lower():
        return "The password must not contain your username."
    return None
