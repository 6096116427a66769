"""Login and token authentication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread

from trainql.db import users as user_store
from trainql.db.engine import Database
from trainql.db.types import utcnow
from trainql.domain import User
from trainql.errors import AuthenticationError, InvalidCredentials, InvalidInput
from trainql.resolvers.context import Context
from trainql.security import new_token, token_digest, verify_password

# last_used_at is a hint, not an audit log: writing it on every request would turn each read
# into a write, so it is refreshed at most this often.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
AUTH_SCHEMES = ("token", "bearer")


@dataclass(frozen=True, slots=True)
class AuthResult:
    token: str
    user: User


async def issue_token(db: Database, user: User) -> str:
    """Create and store a new token for `user`; the plain token is returned once."""
    token = new_token()
    async with db.session() as session:
        await user_store.add_token(session, user_id=user.id, digest=token_digest(token))
    return token


async def obtain_token(*, ctx: Context, username: str, password: str) -> AuthResult:
    """A new token for valid credentials; InvalidCredentials otherwise.

    An unknown user costs the same argon2 verification as a wrong password.
    """
    missing = {
        name: ["This field is required."]
        for name, value in (("username", username), ("password", password))
        if not value
    }
    if missing:
        raise InvalidInput("username and password are required.", fields=missing)
    async with ctx.db.session() as session:
        found = await user_store.get_user_with_hash(session, username=username)
    user, password_hash = found if found else (None, None)
    ok = await anyio.to_thread.run_sync(verify_password, password, password_hash)
    if not ok or user is None or not user.is_active:
        raise InvalidCredentials()
    return AuthResult(token=await issue_token(ctx.db, user), user=user)


def parse_authorization(header: str) -> str:
    """The token in `Token <t>` or `Bearer <t>`; AuthenticationError for anything else."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in AUTH_SCHEMES:
        raise AuthenticationError(
            "Invalid Authorization header. Use 'Token <token>' or 'Bearer <token>'."
        )
    return parts[1]


async def authenticate(db: Database, authorization: str | None) -> User | None:
    """The user an Authorization header names, None without a header.

    A header that is present but malformed, or names an unknown token, is an
    AuthenticationError: a caller is never silently treated as anonymous.
    """
    if authorization is None:
        return None
    digest = token_digest(parse_authorization(authorization))
    async with db.read() as conn:
        found = await user_store.get_user_by_token_digest(conn, digest=digest)
    if found is None:
        raise AuthenticationError("Invalid token.")
    user, last_used_at = found
    now = utcnow()
    if last_used_at is None or now - last_used_at > TOKEN_TOUCH_INTERVAL:
        async with db.session() as session:
            await user_store.touch_token(session, digest=digest, at=now)
    return user
