"""Legacy routes answer with and without their trailing slash, never by redirect, and
document the refusals they really send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field

F = TypeVar("F", bound=Callable[..., Any])


class ErrorBody(BaseModel):
    """What a refusal answers (rest_compat/errors.py): `detail` for most, with `errors` by
    field for bad input; `non_field_errors` for a refused login; `training_run_id` for a
    training that failed."""

    detail: str | None = Field(None, description="What was wrong, in one sentence.")
    errors: dict[str, list[str]] | None = Field(None, description="Messages by field.")
    non_field_errors: list[str] | None = Field(None, description="A refused login.")
    training_run_id: int | None = Field(None, description="The run of a failed training.")


# Declared on every route. A "4XX" entry also keeps FastAPI from advertising its own 422,
# which these routes never send (validation errors answer 400, as the legacy API did).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ErrorBody,
        "description": "Refused: 400 bad input, 401 no or bad token, 403 not allowed, "
        "404 not found, 413 body too large, 429 too many login attempts (Retry-After).",
    },
    "5XX": {
        "model": ErrorBody,
        "description": "503 database unreachable (Retry-After), 507 storage full, "
        "500 an unexpected error (logged; the answer says no more).",
    },
}


def route(router: APIRouter, path: str, *, methods: list[str], **kwargs: Any) -> Callable[[F], F]:
    """Register an endpoint at `path` both without and with a trailing slash."""
    bare = path.rstrip("/")
    kwargs["responses"] = ERROR_RESPONSES | kwargs.get("responses", {})

    def register(endpoint: F) -> F:
        router.add_api_route(bare, endpoint, methods=methods, **kwargs)
        router.add_api_route(
            bare + "/", endpoint, methods=methods, include_in_schema=False, **kwargs
        )
        return endpoint

    return register
