"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, RowMapping, bindparam, delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import ApiTokenRow, UserRow
from trainql.domain import ApiToken, Role, User

_USER_FIELDS = ("id", "username", "roles", "is_active")


def user_to_domain(row: UserRow) -> User:
    user = user_from_columns(row, "")
    assert user is not None, "a stored user has an id"
    return user


def user_columns(prefix: str) -> list[Any]:
    """The columns a `User` is made of, labelled `<prefix><name>`: for reading a user in the
    same row as another table's columns (see `user_from_columns`)."""
    return [getattr(UserRow, name).label(prefix + name) for name in _USER_FIELDS]


_ROLES = {role.value: role for role in Role}


def user_from_columns(row: Any, prefix: str) -> User | None:
    """The user in the `user_columns(prefix)` of `row` (a UserRow itself, with prefix "");
    None when they are NULL (an outer join that found no user)."""
    if isinstance(row, (Row, RowMapping)):
        columns = row._mapping if isinstance(row, Row) else row
        values = [columns[prefix + name] for name in _USER_FIELDS]
    else:
        values = [getattr(row, prefix + name) for name in _USER_FIELDS]
    user_id, username, roles, is_active = values
    if user_id is None:
        return None
    return User(
        id=user_id,
        username=username,
        roles=frozenset(_ROLES[r] for r in roles),
        is_active=is_active,
    )


async def count_users(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(UserRow))).one()


async def create_user(
    session: AsyncSession, *, username: str, password_hash: str, roles: frozenset[Role]
) -> User:
    """Insert a user; a taken username raises ConstraintViolation when the session commits."""
    row = UserRow(username=username, password_hash=password_hash, roles=sorted(roles))
    session.add(row)
    await session.flush()
    return user_to_domain(row)


async def get_user_with_hash(session: AsyncSession, *, username: str) -> tuple[User, str] | None:
    """The user and their password hash, for a login check."""
    row = (await session.exec(select(UserRow).where(UserRow.username == username))).first()
    if row is None:
        return None
    return user_to_domain(row), row.password_hash


async def get_users_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, User]:
    rows = (await session.exec(select(UserRow).where(col(UserRow.id).in_(ids)))).all()
    return {user.id: user for user in map(user_to_domain, rows)}


async def list_users(session: AsyncSession) -> list[User]:
    rows = (await session.exec(select(UserRow).order_by(col(UserRow.username)))).all()
    return [user_to_domain(row) for row in rows]


async def set_password_hash(session: AsyncSession, *, username: str, password_hash: str) -> bool:
    """Replace a user's password hash; False when there is no such user."""
    result = await session.exec(
        update(UserRow).where(col(UserRow.username) == username).values(password_hash=password_hash)
    )
    return bool(result.rowcount)


async def add_token(session: AsyncSession, *, user_id: int, digest: str) -> None:
    session.add(ApiTokenRow(user_id=user_id, digest=digest))
    await session.flush()


# Built once: every authenticated request runs it, and building the expression cost more
# than the database took to answer it.
_TOKEN_BY_DIGEST = (
    sa_select(
        *user_columns("user_"),
        col(ApiTokenRow.id).label("token_id"),
        col(ApiTokenRow.created_at),
        col(ApiTokenRow.last_used_at),
    )
    .join(ApiTokenRow, col(ApiTokenRow.user_id) == col(UserRow.id))
    .where(col(ApiTokenRow.digest) == bindparam("digest"), col(UserRow.is_active).is_(True))
)


def _token_from_row(row: Any) -> ApiToken:
    user = user_from_columns(row, "user_")
    assert user is not None, "an inner join always finds the user"
    return ApiToken(
        id=row.token_id, user=user, created_at=row.created_at, last_used_at=row.last_used_at
    )


async def get_token_by_digest(conn: AsyncConnection, *, digest: str) -> ApiToken | None:
    """The token with this digest, when its user is active."""
    found = (await conn.execute(_TOKEN_BY_DIGEST, {"digest": digest})).first()
    return None if found is None else _token_from_row(found)


async def get_tokens_by_ids(conn: AsyncConnection, *, token_ids: list[int]) -> list[ApiToken]:
    """The tokens among `token_ids` that still exist and whose user is active."""
    statement = (
        sa_select(*_TOKEN_BY_DIGEST.selected_columns)
        .join(ApiTokenRow, col(ApiTokenRow.user_id) == col(UserRow.id))
        .where(col(ApiTokenRow.id).in_(token_ids), col(UserRow.is_active).is_(True))
    )
    return [_token_from_row(row) for row in await conn.execute(statement)]


async def touch_token(
    session: AsyncSession, *, token_id: int, at: datetime, unless_since: datetime
) -> None:
    """Set the token's last_used_at to `at`, unless it is already `unless_since` or later
    (another worker wrote it meanwhile): the row is written once, not once per worker."""
    last_used = col(ApiTokenRow.last_used_at)
    await session.exec(
        update(ApiTokenRow)
        .where(
            col(ApiTokenRow.id) == token_id,
            or_(last_used.is_(None), last_used < unless_since),
        )
        .values(last_used_at=at)
    )


async def delete_tokens(
    session: AsyncSession, *, token_id: int | None = None, user_id: int | None = None
) -> int:
    """Delete one token (`token_id`) or all of a user's (`user_id`); how many went."""
    if (token_id is None) == (user_id is None):
        raise ValueError("give exactly one of token_id and user_id")
    where = (
        col(ApiTokenRow.id) == token_id
        if token_id is not None
        else col(ApiTokenRow.user_id) == user_id
    )
    result = await session.exec(delete(ApiTokenRow).where(where))
    return int(result.rowcount or 0)
