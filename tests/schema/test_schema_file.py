from pathlib import Path

from trainql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_is_the_printed_schema():
    # Regenerate with: trainql schema > schema.graphql
    assert SCHEMA_FILE.read_text().strip() == schema.as_str().strip()
