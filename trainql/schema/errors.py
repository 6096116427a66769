"""The GraphQL side of the error mapping: every error leaves with an `extensions.code`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from trainql.errors import DatabaseUnavailable, InsufficientStorage, TrainqlError
from trainql.schema.extension_hooks import CachedHooksRunner

logger = logging.getLogger("trainql.graphql")

MASKED_MESSAGE = "Internal server error"


def _domain_error(error: GraphQLError) -> TrainqlError | None:
    original = error.original_error
    return original if isinstance(original, TrainqlError) else None


def _map_error(error: GraphQLError, *, pre_execution: bool) -> GraphQLError:
    if (extensions := error.extensions or {}).get("code"):
        return error
    if isinstance(error.original_error, GraphQLError):
        # graphql-core refused a variable's value (an unknown enum value, a malformed UUID,
        # a missing required one) and Strawberry wrapped that refusal: the client's mistake,
        # not ours to mask. Unwrapped, it is coded below like any error without an original.
        error = GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
    domain = _domain_error(error)
    if domain is not None:
        return GraphQLError(
            domain.message,
            nodes=error.nodes,
            path=error.path,
            original_error=domain,
            extensions={"code": domain.code, **domain.extensions(), **extensions},
        )
    if error.original_error is not None:
        return GraphQLError(
            MASKED_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    if isinstance(error, GraphQLSyntaxError):
        code = "GRAPHQL_PARSE_FAILED"
    elif pre_execution:
        code = "GRAPHQL_VALIDATION_FAILED"
    else:
        # No original error during execution: graphql-core refused a variable's value.
        code = "BAD_USER_INPUT"
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**extensions, "code": code},
    )


class ErrorMapping(SchemaExtension):
    """Short-circuits operations whose context could not be built (a bad token, the database
    away), gives every error its code, and answers the HTTP status of a server condition
    (503 with Retry-After for the database away, 507 for full storage) in a normal GraphQL
    response body."""

    def on_execute(self) -> Iterator[None]:
        context_error = getattr(self.execution_context.context, "error", None)
        if context_error is not None:
            self.execution_context.result = GraphQLExecutionResult(
                data=None,
                errors=[GraphQLError(context_error.message, original_error=context_error)],
            )
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        _map_result_errors(result)
        _answer_server_condition(self.execution_context.context, getattr(result, "errors", None))

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscriptions (and operations over a WebSocket) send each result as it comes,
        # before on_operation ends: map every one of them here.
        _map_result_errors(result)
        yield


def _map_result_errors(result: Any) -> None:
    errors = getattr(result, "errors", None)
    if result is None or not errors:
        return
    pre_execution = isinstance(result, PreExecutionError)
    result.errors = [_map_error(e, pre_execution=pre_execution) for e in errors]


# Errors that say the server cannot serve the request now, rather than that the request is
# wrong: their HTTP status is the response's, so that clients, proxies and load balancers
# see them as they see the REST routes' answers.
SERVER_CONDITIONS = (DatabaseUnavailable, InsufficientStorage)


def _answer_server_condition(context: Any, errors: list[GraphQLError] | None) -> None:
    response = getattr(context, "response", None)
    if not errors or not isinstance(response, Response):
        return  # no errors, or not over HTTP (a WebSocket has no status)
    for error in errors:
        domain = _domain_error(error)
        if isinstance(domain, SERVER_CONDITIONS):
            response.status_code = domain.http_status
            if domain.retry_after_s is not None:
                response.headers["Retry-After"] = str(domain.retry_after_s)
            return


def coded_error(domain: TrainqlError, context: Any) -> GraphQLError:
    """`domain`, raised outside a resolver (in an extension, before ErrorMapping is entered),
    as the GraphQLError ErrorMapping would make of it; a server condition (the database away)
    also sets the HTTP status and Retry-After of the response, as ErrorMapping does."""
    error = GraphQLError(
        domain.message,
        original_error=domain,
        extensions={"code": domain.code, **domain.extensions()},
    )
    _answer_server_condition(context, [error])
    return error


def request_error_body(error: TrainqlError) -> dict[str, Any]:
    """The GraphQL body of a request refused before any operation ran (too large, not
    UTF-8, ...): `{"errors": [{"message", "extensions": {"code", ...}}]}`, no `data`."""
    extensions = {"code": error.code, **error.extensions()}
    return {"errors": [{"message": error.message, "extensions": extensions}]}


class TrainqlSchema(strawberry.Schema):
    """Logs unexpected errors with their traceback; domain errors are the client's business.
    Its extensions' hooks are found once per class (schema/extension_hooks.py)."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original: Any = error.original_error
            if original is None or isinstance(original, (TrainqlError, GraphQLError)):
                logger.debug("GraphQL error: %s", error.message)
            else:
                logger.error(
                    "Unexpected error in GraphQL operation at %s",
                    error.path,
                    exc_info=(type(original), original, original.__traceback__),
                )
