"""JSON columns read back exactly what was written (db/engine.load_json), on both databases."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from trainql.db import datasets as dataset_store
from trainql.db.engine import load_json
from trainql.services import Services

# Text json.dumps escapes: a lone surrogate (which pydantic_core's parser refuses), quotes,
# control characters, non-ASCII.
ODD_TEXT = ["\ud800", "\udfff x", 'a"b', "\\", "\x00\n\t", "é", "日本", "\U0001f600"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.sampled_from(ODD_TEXT),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_load_json_reads_what_json_loads_reads(value: Any):
    written = json.dumps(value)
    # Compared as JSON text again: NaN is not equal to itself.
    assert json.dumps(load_json(written)) == json.dumps(json.loads(written))
    assert json.dumps(load_json(written.encode())) == json.dumps(json.loads(written))


async def test_a_json_column_reads_back_what_was_written(services: Services):
    # given: a dataset whose column names are every kind of text JSON escapes
    dataset_id = uuid.uuid4()
    async with services.db.session() as session:
        await dataset_store.insert_dataset(
            session,
            dataset_id=dataset_id,
            name="odd columns",
            owner_id=None,
            file_path="datasets/odd.csv",
            row_count=1,
            columns=ODD_TEXT,
        )
    # when: it is read back
    async with services.db.session() as session:
        found = await dataset_store.get_dataset(session, dataset_id=dataset_id)
    # then: the same names, in order
    assert found is not None
    assert found.columns == ODD_TEXT
