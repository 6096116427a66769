"""Password hashes (argon2) and API tokens (random, stored as a SHA-256 digest)."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """A salted argon2id hash. Slow on purpose: call it off the event loop."""
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches. With no hash (unknown user) a dummy hash is checked
    instead, so the answer costs the same time whether the user exists or not."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token: 40 hex characters, like the old service's tokens."""
    return secrets.token_hex(20)


def token_digest(token: str) -> str:
    """What is stored for a token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def warm_up() -> None:
    """Compute the dummy hash now so the first failed login is not faster than later ones."""
    _dummy_hash()
