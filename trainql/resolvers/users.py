"""User administration (used by the CLI) and the first-start admin bootstrap."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import anyio.to_thread

from trainql.db import users as user_store
from trainql.db.engine import ConstraintViolation, Database
from trainql.domain import Role, User
from trainql.errors import InvalidInput, NotFound
from trainql.resolvers.auth import issue_token
from trainql.security import hash_password

USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")
MIN_PASSWORD_LENGTH = 8
ADMIN_USERNAME = "admin"


def _validate_username(username: str) -> None:
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            "Invalid username: use 1 to 150 characters, letters, digits and @ . + - _ only.",
            fields={"username": ["1 to 150 characters: letters, digits and @ . + - _ only."]},
        )


def _validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            fields={"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]},
        )


async def create_user(
    *, db: Database, username: str, password: str, roles: frozenset[Role] = frozenset()
) -> User:
    """A new user with an argon2 password hash; a taken username is InvalidInput."""
    _validate_username(username)
    _validate_password(password)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    try:
        async with db.session() as session:
            return await user_store.create_user(
                session, username=username, password_hash=password_hash, roles=roles
            )
    except ConstraintViolation as exc:
        raise InvalidInput(
            f"A user named {username!r} already exists.",
            fields={"username": ["A user with that username already exists."]},
        ) from exc


async def list_users(*, db: Database) -> list[User]:
    async with db.session() as session:
        return await user_store.list_users(session)


async def set_password(*, db: Database, username: str, password: str) -> None:
    _validate_password(password)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    async with db.session() as session:
        if not await user_store.set_password_hash(
            session, username=username, password_hash=password_hash
        ):
            raise NotFound(f"No user named {username!r}.")


@dataclass(frozen=True, slots=True)
class AdminBootstrap:
    password: str
    token: str
    password_generated: bool


async def bootstrap_admin(*, db: Database, password: str | None) -> AdminBootstrap | None:
    """On an empty database, create `admin` (HR_STAFF and MANAGER) and a token for it.

    Returns what to show once, or None when the database already has users.
    """
    async with db.session() as session:
        if await user_store.count_users(session):
            return None
    generated = password is None
    chosen = password if password is not None else secrets.token_urlsafe(18)
    try:
        admin = await create_user(
            db=db, username=ADMIN_USERNAME, password=chosen, roles=frozenset(Role)
        )
    except InvalidInput as exc:
        if "username" in exc.fields:  # another process bootstrapped first
            return None
        raise
    token = await issue_token(db, admin)
    return AdminBootstrap(password=chosen, token=token, password_generated=generated)


async def get_user(*, db: Database, username: str) -> User:
    """The user named `username`; NotFound when there is none."""
    async with db.session() as session:
        found = await user_store.get_user_with_hash(session, username=username)
    if found is None:
        raise NotFound(f"No user named {username!r}.")
    return found[0]


async def revoke_tokens(*, db: Database, username: str) -> int:
    """Revoke every token of the user named `username` (every worker refuses them within
    TOKEN_CACHE_TTL_S, half a second); how many there were. NotFound when there is no such user."""
    async with db.session() as session:
        found = await user_store.get_user_with_hash(session, username=username)
        if found is None:
            raise NotFound(f"No user named {username!r}.")
        return await user_store.delete_tokens(session, user_id=found[0].id)
