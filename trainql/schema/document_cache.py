"""Parse and validate each distinct GraphQL document once per process.

Apollo clients send the same few documents over and over (persisted queries make that the
rule), and graphql-core's parsing and validation are most of the cost of a small operation.
Strawberry's parser cache is keyed by everything that changes the outcome (the text and the
parse options, so `max_tokens`); a validation is kept with the document it validated and the
schema and rules it used (our limits among them), so cached documents are still held to the
limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from trainql.schema.node_memo import NodeMemo

# Distinct documents kept parsed (a process-wide LRU); their validations go with them.
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


# A document's validation: the (schema, rules) it was validated for, and its errors. One per
# document: a process serves one schema, and a second (tests build many) replaces the first.
_validations: NodeMemo[DocumentNode, list[Any]] = NodeMemo(lambda: [None, None])


class DocumentValidationCache(SchemaExtension):
    """Validates each parsed document once per schema and rules, keeping the result with the
    document (schema/node_memo.py).

    Strawberry's ValidationCache keys an LRU by the document itself, and graphql-core's AST
    nodes hash by walking their whole tree: 38 µs on every request for a 20-run page's
    document. The parser cache hands back the same document for the same text, so its
    identity is key enough.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            schema, rules = context.schema._schema, context.validation_rules
            kept = _validations.of(document)
            if kept[0] != (schema, rules):
                kept[:] = [(schema, rules), validate_document(schema, document, rules)]
            context.pre_execution_errors = kept[1]
        yield


def document_cache_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories of the parse and validation caches."""
    return [
        partial(SafeParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        DocumentValidationCache,
    ]
