"""Legacy routes answer with and without their trailing slash, never by redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

F = TypeVar("F", bound=Callable[..., Any])


def route(router: APIRouter, path: str, *, methods: list[str], **kwargs: Any) -> Callable[[F], F]:
    """Register an endpoint at `path` both without and with a trailing slash."""
    bare = path.rstrip("/")

    def register(endpoint: F) -> F:
        router.add_api_route(bare, endpoint, methods=methods, **kwargs)
        router.add_api_route(
            bare + "/", endpoint, methods=methods, include_in_schema=False, **kwargs
        )
        return endpoint

    return register
