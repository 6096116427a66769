"""Values kept with a parsed GraphQL node for as long as the node lives.

The parser cache (schema/document_cache.py) hands back the same node objects for a document
sent again, so what is worked out once about a document (its validation, its execution plans)
can be kept with its nodes. Kept weakly: an entry goes when the cache lets its document go,
so a stream of distinct documents keeps no more alive than the cache does.

Keyed by the node's id with a weak reference to it, not by the node (a dict or a
WeakKeyDictionary keyed by it): graphql-core's AST nodes are frozen dataclasses whose hash and
equality walk their whole tree, which made every lookup cost more than what it found (38 µs
to hash a 20-run page's document).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

Node = TypeVar("Node")
Value = TypeVar("Value")


class NodeMemo(Generic[Node, Value]):
    """One value per live node, made by `make` the first time a node is asked for."""

    def __init__(self, make: Callable[[], Value]) -> None:
        self._make = make
        self._entries: dict[int, tuple[weakref.ref[Node], Value]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def of(self, node: Node) -> Value:
        """The value kept for `node` (a new one from `make` the first time)."""
        key = id(node)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is node:
            return entry[1]
        value = self._make()
        entries = self._entries

        def forget(reference: weakref.ref[Node]) -> None:
            # Only this node's entry: another node may have its id by now.
            if entries.get(key, (None,))[0] is reference:
                del entries[key]

        entries[key] = (weakref.ref(node, forget), value)
        return value
