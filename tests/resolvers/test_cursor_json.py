"""A cursor's JSON is the same bytes whichever encoder writes it (resolvers/pagination.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from trainql.resolvers.pagination import _cursor_json

keys = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127))
    | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
)


@given(order=st.text(max_size=12), key=keys, row_id=st.integers() | st.uuids().map(str))
# What the two encoders write differently: DEL and non-ASCII text, and floats.
@example(order="RUN_DATE", key="a\x7fb", row_id=1)
@example(order="MODEL_VERSION", key="v3.0-é", row_id=1)
@example(order="ACCURACY", key=1e-05, row_id=1)
@example(order="X", key='"\\\n\x00', row_id=-1)
def test_a_cursor_document_is_written_as_json_writes_it(order: str, key: Any, row_id: Any):
    document = {"v": 1, "o": order, "k": key, "i": row_id}
    assert _cursor_json(document) == json.dumps(document, separators=(",", ":")).encode()
