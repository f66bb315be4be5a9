"""schema.graphql (for frontend tooling: codegen, editors) is the schema the code serves."""

from pathlib import Path

from commcredits.schema.root import schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_committed_schema_file_matches_the_code():
    expected = schema.as_str() + "\n"
    assert SCHEMA_FILE.read_text() == expected, (
        "schema.graphql is stale: run `make schema` and commit it"
    )
