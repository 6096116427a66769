"""Schemathesis hooks for trainql (loaded through SCHEMATHESIS_HOOKS by tests/fuzz/run.py).

- Strategies for the GraphQL scalars schemathesis does not know: `Upload` (a file cannot be
  sent inside a generated query, so null: the schema refuses it where a file is required)
  and `JSON` (any JSON value).
- `no_server_error`, the GraphQL runs' check. Schemathesis's own `not_a_server_error` counts
  as a server error every GraphQL error that carries a path and no code it knows as a client
  code (Apollo's BAD_USER_INPUT and friends), so our NOT_FOUND, FORBIDDEN, UNAUTHENTICATED
  and DATASET_INVALID, the client's mistakes by our contract (DESIGN.md), would count. Every
  error we answer carries its code; a server error is an HTTP 5xx or an error coded
  INTERNAL_SERVER_ERROR (the masked unexpected one), or one with no code at all.
"""

from __future__ import annotations

from typing import Any

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

SERVER_ERROR_CODES = {"INTERNAL_SERVER_ERROR", None}


def _json_node(value: Any) -> graphql.ValueNode:
    """A GraphQL literal for a JSON value."""
    if isinstance(value, list):
        return nodes.List([_json_node(item) for item in value])
    if isinstance(value, dict):
        fields = [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=_json_node(item))
            for key, item in value.items()
        ]
        return nodes.Object(fields)
    if value is None:
        return nodes.Null
    if isinstance(value, bool):  # before int: True is an int too
        return nodes.Boolean(value)
    if isinstance(value, int | float):
        return nodes.Int(value) if isinstance(value, int) else nodes.Float(value)
    return nodes.String(value)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**31), max_value=2**31 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), children, max_size=3
        )
    ),
    max_leaves=8,
)

schemathesis.graphql.scalar("Upload", st.just(nodes.Null))
schemathesis.graphql.scalar("JSON", _json_values.map(_json_node))


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """An HTTP 5xx, or a GraphQL error coded INTERNAL_SERVER_ERROR (or not coded), fails."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        payload = response.json()
    except ValueError:
        return None
    bodies = payload if isinstance(payload, list) else [payload]
    for body in bodies:
        for error in (body.get("errors") or []) if isinstance(body, dict) else []:
            extensions = error.get("extensions") if isinstance(error, dict) else None
            code = extensions.get("code") if isinstance(extensions, dict) else None
            if code in SERVER_ERROR_CODES:
                raise AssertionError(f"a server error in the GraphQL answer: {error}")
    return None
