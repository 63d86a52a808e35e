import pytest

from app.db.migrate import migration_files
from app.db.queries import load_queries, parse_named_blocks


def test_named_blocks_split_on_headers() -> None:
    text = (
        "-- name: get_a\nSELECT 1;\n\n-- name: put_b\n-- why it exists\nINSERT INTO b VALUES (1);\n"
    )
    blocks = parse_named_blocks(text)
    assert blocks == {"get_a": "SELECT 1;", "put_b": "-- why it exists\nINSERT INTO b VALUES (1);"}


def test_duplicate_and_empty_blocks_are_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_named_blocks("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(ValueError, match="empty"):
        parse_named_blocks("-- name: a\n\n-- name: b\nSELECT 2;")


def test_project_queries_load() -> None:
    queries = load_queries()
    assert "insert_staged_reads" in queries and "get_display_by_code" in queries


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [v for v, _ in migration_files()]
    assert versions == list(range(1, len(versions) + 1))
