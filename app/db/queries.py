"""Named SQL blocks loaded from sql/queries/*.sql (`-- name: verb_noun` headers)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_named_blocks(text: str, source: str = "<sql>") -> dict[str, str]:
    blocks: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip()
        name = m.group(1)
        if name in blocks:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        if not body:
            raise ValueError(f"{source}: query {name!r} is empty")
        blocks[name] = body
    return blocks


@cache
def load_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted((SQL_DIR / "queries").glob("*.sql")):
        for name, body in parse_named_blocks(path.read_text(), str(path)).items():
            if name in queries:
                raise ValueError(f"{path}: query {name!r} is also defined in another file")
            queries[name] = body
    return queries


def q(name: str) -> str:
    return load_queries()[name]


async def fetch_one(
    conn: AsyncConnection, cls: type[Any], name: str, params: dict[str, Any]
) -> Any:
    """The named query's first row as a `cls`, or None."""
    async with conn.cursor(row_factory=class_row(cls)) as cur:
        await cur.execute(q(name), params)
        return await cur.fetchone()


async def fetch_all(
    conn: AsyncConnection, cls: type[Any], name: str, params: dict[str, Any]
) -> list[Any]:
    """The named query's rows as `cls` instances."""
    async with conn.cursor(row_factory=class_row(cls)) as cur:
        await cur.execute(q(name), params)
        return await cur.fetchall()
