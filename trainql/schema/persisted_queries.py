"""Apollo's automatic persisted queries (APQ), protocol version 1.

A request whose `extensions.persistedQuery` carries a `sha256Hash`:
- without a query: runs the stored query of that hash, or answers the error Apollo's
  clients wait for (message `PersistedQueryNotFound`, code PERSISTED_QUERY_NOT_FOUND), upon
  which they send the query along with the hash;
- with a query: the hash must be the query's SHA-256 (else PERSISTED_QUERY_HASH_MISMATCH);
  the query runs, and once it has parsed and validated it is stored under its hash.
A version other than 1 answers PERSISTED_QUERY_NOT_SUPPORTED, on which Apollo's clients stop
hashing and send plain queries. Works inside batches and over GET (which runs queries only).

Strawberry leaves room for this (an extension may supply `execution_context.query` before
the operation is parsed); `AutomaticPersistedQueries` is that extension and must come first
in the schema's list, so that its refusals leave no other extension half-entered.

The stores live in db/persisted_queries.py: an in-process LRU (SQLite) or the
`persisted_queries` table shared by every process on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from trainql.db.persisted_queries import PersistedQueryStore
from trainql.errors import TrainqlError
from trainql.schema.errors import coded_error

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
SUPPORTED_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def query_hash(query: str) -> str:
    """The APQ id of a query: the lower-case hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(query.encode()).hexdigest()


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The `sha256Hash` a request's extensions ask for, or None when it uses no APQ.

    Raises the GraphQLError to answer when the `persistedQuery` entry is unusable.
    """
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise _error(
            "extensions.persistedQuery must be an object: {version: 1, sha256Hash}.",
            "BAD_USER_INPUT",
        )
    version = persisted.get("version")
    if version != SUPPORTED_VERSION:
        raise _error(
            f"Persisted query version {version!r} is not supported; this server speaks "
            f"version {SUPPORTED_VERSION}.",
            NOT_SUPPORTED,
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256.lower()):
        raise _error(
            "extensions.persistedQuery.sha256Hash must be the 64 hexadecimal digits of the "
            "SHA-256 of the query.",
            "BAD_USER_INPUT",
        )
    return sha256.lower()


class AutomaticPersistedQueries(SchemaExtension):
    """Supplies the query of a hash-only request, checks and stores the query of a
    registering one. Give the schema a factory: `lambda: AutomaticPersistedQueries(store)`."""

    def __init__(self, store: PersistedQueryStore) -> None:
        self.store = store
        self._register: str | None = None  # the hash to store the query under once valid

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context
        sha256 = requested_hash(context.operation_extensions)
        if sha256 is not None and not context.query:
            try:
                query = await self.store.get(sha256)
            except TrainqlError as exc:  # the database away: 503, as for any operation
                raise coded_error(exc, context.context) from exc
            if query is None:
                raise _error("PersistedQueryNotFound", NOT_FOUND)
            context.query = query
        elif sha256 is not None:
            assert context.query is not None
            if (actual := query_hash(context.query)) != sha256:
                raise _error(
                    f"The query's SHA-256 is {actual}, not the sha256Hash {sha256} sent with "
                    "it: provided sha does not match query.",
                    HASH_MISMATCH,
                )
            self._register = sha256
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        yield
        # As Apollo Server does: store once the document parsed and validated, before it
        # runs (a run that fails on its variables still leaves a good query stored).
        context = self.execution_context
        if self._register is not None and context.query and not context.pre_execution_errors:
            try:
                await self.store.put(self._register, context.query)
            except TrainqlError as exc:
                raise coded_error(exc, context.context) from exc
