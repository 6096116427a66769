"""Limits on what one GraphQL operation may ask: depth, aliases, tokens, root fields.

Every refusal is a validation-phase error with `extensions.code` QUERY_TOO_COMPLEX, a
`limit` naming the setting, its `max` and what was `found`, and a message saying all of it.
Introspection can be switched off (graphql-core's rule; the error is GRAPHQL_VALIDATION_FAILED).
The counting reuses Strawberry's limiters' crawlers; only the error they report is ours.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    Visitor,
    visit,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import count_fields_with_alias
from strawberry.extensions.query_depth_limiter import determine_depth

from trainql.config import Settings

LIMIT_CODE = "QUERY_TOO_COMPLEX"


def limit_error(
    message: str, *, setting: str, maximum: int, found: int | None, nodes: Any = None
) -> GraphQLError:
    """The error of a refused limit; `setting` is the Settings field that sets it."""
    extensions: dict[str, Any] = {
        "code": LIMIT_CODE,
        "limit": f"TRAINQL_{setting.upper()}",
        "max": maximum,
    }
    if found is not None:
        extensions["found"] = found
    return GraphQLError(
        f"{message} (limit TRAINQL_{setting.upper()} = {maximum}).",
        nodes=nodes,
        extensions=extensions,
    )


def _operations(context: ValidationContext) -> list[OperationDefinitionNode]:
    return [d for d in context.document.definitions if isinstance(d, OperationDefinitionNode)]


def _fragments(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    return {
        d.name.value: d
        for d in context.document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }


def _name(operation: OperationDefinitionNode) -> str:
    return f"'{operation.name.value}'" if operation.name else "The anonymous operation"


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """Refuses operations nested deeper than `max_depth` (introspection fields are not
    counted, so GraphiQL's schema query always passes)."""

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = _fragments(context)
            for operation in _operations(context):
                # An unreachable maximum: Strawberry's crawler only measures, we report.
                depth = determine_depth(
                    node=operation,
                    fragments=fragments,
                    depth_so_far=0,
                    max_depth=sys.maxsize,
                    context=context,
                    operation_name=operation.name.value if operation.name else "anonymous",
                    should_ignore=None,
                )
                if depth > max_depth:
                    context.report_error(
                        limit_error(
                            f"{_name(operation)} is nested {depth} levels deep",
                            setting="graphql_max_depth",
                            maximum=max_depth,
                            found=depth,
                            nodes=[operation],
                        )
                    )

    return DepthLimit


def aliases_rule(max_aliases: int) -> type[ValidationRule]:
    """Refuses documents with more than `max_aliases` aliased fields (fragments included)."""

    class AliasLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = _fragments(context)
            count = sum(count_fields_with_alias(op, fragments) for op in _operations(context))
            if count > max_aliases:
                context.report_error(
                    limit_error(
                        f"The document uses {count} aliases",
                        setting="graphql_max_aliases",
                        maximum=max_aliases,
                        found=count,
                    )
                )

    return AliasLimit


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += selection.name.value != "__typename"
        elif isinstance(selection, InlineFragmentNode):
            count += _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                count += _root_fields(fragments[name].selection_set, fragments, seen | {name})
    return count


def root_fields_rule(max_root_fields: int) -> type[ValidationRule]:
    """Refuses operations selecting more than `max_root_fields` top-level fields (through
    fragments too; `__typename` is free)."""

    class RootFieldLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = _fragments(context)
            for operation in _operations(context):
                count = _root_fields(operation.selection_set, fragments)
                if count > max_root_fields:
                    context.report_error(
                        limit_error(
                            f"{_name(operation)} selects {count} root fields",
                            setting="graphql_max_root_fields",
                            maximum=max_root_fields,
                            found=count,
                            nodes=[operation],
                        )
                    )

    return RootFieldLimit


class TokenLimit(MaxTokensLimiter):
    """graphql-core stops parsing past `max_tokens` with a syntax error; this gives that
    refusal the limit's code and message. Listed after ErrorMapping, so it runs first on
    the way out (Strawberry unwinds operation hooks in reverse)."""

    def on_operation(self) -> Iterator[None]:
        yield from super().on_operation()
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._tagged(error) for error in result.errors]

    def _tagged(self, error: GraphQLError) -> GraphQLError:
        if not isinstance(error, GraphQLSyntaxError) or "tokens" not in error.message:
            return error
        return limit_error(
            f"The document has more than {self.max_token_count} tokens",
            setting="graphql_max_tokens",
            maximum=self.max_token_count,
            found=None,  # parsing stops at the limit, so the full count is unknown
        )


# A run of digits longer than Python reads as an int (4300 by default).
_INT_DIGITS = sys.get_int_max_str_digits()
_TOO_MANY_DIGITS = re.compile(rf"\d{{{_INT_DIGITS + 1}}}")


class IntLiteralLimit(SchemaExtension):
    """graphql-core reads an Int literal with int(), which refuses more than Python's digit
    limit with a ValueError (a masked server error). Such a document is refused first, as
    the invalid input it is; shorter ones get graphql-core's own "non 32-bit" refusal."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # Most documents have no such run of digits anywhere: nothing is walked for them.
        if context.graphql_document is not None and _TOO_MANY_DIGITS.search(context.query or ""):
            for node in _int_literals(context.graphql_document):
                if len(node.value.lstrip("-")) > _INT_DIGITS:
                    raise GraphQLError(
                        f"An integer literal has {len(node.value.lstrip('-'))} digits: a "
                        f"GraphQL Int has at most 10, and this server reads no integer of "
                        f"more than {_INT_DIGITS}.",
                        nodes=[node],
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                    )
        yield


def _int_literals(document: DocumentNode) -> list[IntValueNode]:
    found: list[IntValueNode] = []

    class Collect(Visitor):
        def enter_int_value(self, node: IntValueNode, *_: Any) -> None:
            found.append(node)

    visit(document, Collect())
    return found


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories of the schema extensions enforcing the settings' limits (a factory per
    extension: Strawberry makes a fresh instance for every operation)."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.graphql_max_depth),
        aliases_rule(settings.graphql_max_aliases),
        root_fields_rule(settings.graphql_max_root_fields),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(TokenLimit, settings.graphql_max_tokens),
        IntLiteralLimit,
        partial(AddValidationRules, rules),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return extensions
