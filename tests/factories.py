"""Test data, made through the same functions the service uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from trainql.domain import Role, User
from trainql.resolvers.auth import issue_token
from trainql.resolvers.context import Services
from trainql.resolvers.users import create_user

DEFAULT_PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Account:
    user: User
    token: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def account(
        self, username: str = "alice", *roles: Role, password: str = DEFAULT_PASSWORD
    ) -> Account:
        user = await create_user(
            db=self.services.db, username=username, password=password, roles=frozenset(roles)
        )
        return Account(
            user=user, token=await issue_token(self.services.db, user), password=password
        )

    async def hr_staff(self, username: str = "hr") -> Account:
        return await self.account(username, Role.HR_STAFF)

    async def manager(self, username: str = "boss") -> Account:
        return await self.account(username, Role.MANAGER)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation; returns the decoded body (asserting HTTP 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
