"""Parse and validate each distinct GraphQL document once per process.

Apollo clients send the same few documents over and over (persisted queries make that the
rule), and graphql-core's parsing and validation are most of the cost of a small operation.
Strawberry's caches are keyed by everything that changes the outcome (the parse options,
so `max_tokens`; the schema and the validation rules, so our limits), so cached documents
are still held to the limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache

# Distinct documents whose parse and validation results are kept (process-wide LRUs).
DOCUMENT_CACHE_SIZE = 512


class SafeParserCache(ParserCache):
    """ParserCache that leaves a document it cannot parse to Strawberry's own parsing.

    An error raised from an extension's parse hook would skip the other extensions' exits
    (our error mapping among them); Strawberry parsing it again reports it the usual way.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


def document_cache_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories of the parse and validation caches."""
    return [
        partial(SafeParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
    ]
