"""Users and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trainql.db.models import ApiTokenRow, UserRow
from trainql.db.types import utcnow
from trainql.domain import Role, User


def user_to_domain(row: UserRow) -> User:
    assert row.id is not None
    return User(
        id=row.id,
        username=row.username,
        roles=frozenset(Role(r) for r in row.roles),
        is_active=row.is_active,
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


async def get_user_by_token_digest(
    session: AsyncSession, *, digest: str
) -> tuple[User, datetime | None] | None:
    """The active user holding the token with this digest, and when the token was last used."""
    statement = (
        select(UserRow, ApiTokenRow.last_used_at)
        .join(ApiTokenRow, col(ApiTokenRow.user_id) == col(UserRow.id))
        .where(ApiTokenRow.digest == digest, col(UserRow.is_active).is_(True))
    )
    found = (await session.exec(statement)).first()
    if found is None:
        return None
    row, last_used_at = found
    return user_to_domain(row), last_used_at


async def touch_token(session: AsyncSession, *, digest: str, at: datetime | None = None) -> None:
    await session.exec(
        update(ApiTokenRow)
        .where(col(ApiTokenRow.digest) == digest)
        .values(last_used_at=at or utcnow())
    )
