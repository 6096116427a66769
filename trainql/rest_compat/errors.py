"""The REST side of the error mapping, installed once by create_app()."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from trainql.errors import (
    InvalidCredentials,
    InvalidInput,
    TrainingFailed,
    TrainqlError,
)

logger = logging.getLogger("trainql.rest")

# Where FastAPI says a validation error came from; the field name is what follows.
_LOCATIONS = {"body", "query", "path", "header", "cookie", "form"}


def error_body(error: TrainqlError) -> dict[str, Any]:
    """The JSON body the REST routes answer for a domain error."""
    if isinstance(error, InvalidCredentials):
        return {"non_field_errors": [error.message]}
    body: dict[str, Any] = {"detail": error.message}
    if isinstance(error, InvalidInput) and error.fields:
        body["errors"] = error.fields
    if isinstance(error, TrainingFailed):
        body["training_run_id"] = error.training_run_id
    return body


def validation_fields(exc: RequestValidationError) -> dict[str, list[str]]:
    """FastAPI/pydantic errors as {field: [messages]}."""
    fields: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if str(part) not in _LOCATIONS]
        name = ".".join(loc) or "non_field_errors"
        fields.setdefault(name, []).append(str(err.get("msg", "Invalid value.")))
    return fields


def error_headers(error: TrainqlError) -> dict[str, str]:
    """The headers that go with a domain error: the auth scheme with a 401, Retry-After
    with an error the client may retry (the database away)."""
    headers: dict[str, str] = {}
    if error.http_status == 401:
        headers["WWW-Authenticate"] = "Token"
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return headers


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TrainqlError)
    return JSONResponse(error_body(exc), status_code=exc.http_status, headers=error_headers(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = validation_fields(exc)
    detail = "Invalid request: " + "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in fields.items()
    )
    return JSONResponse({"detail": detail, "errors": fields}, status_code=400)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TrainqlError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
