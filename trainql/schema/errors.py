"""The GraphQL side of the error mapping: every error leaves with an `extensions.code`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from trainql.errors import TrainqlError

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
    """Short-circuits operations sent with a bad token, and gives every error its code."""

    def on_execute(self) -> Iterator[None]:
        auth_error = getattr(self.execution_context.context, "auth_error", None)
        if auth_error is not None:
            self.execution_context.result = GraphQLExecutionResult(
                data=None,
                errors=[GraphQLError(auth_error.message, original_error=auth_error)],
            )
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        _map_result_errors(self.execution_context.result)

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


class TrainqlSchema(strawberry.Schema):
    """Logs unexpected errors with their traceback; domain errors are the client's business."""

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
