"""Named, parameterized SQL blocks kept in `*.sql` files beside this module, read once."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

QUERIES_DIR = Path(__file__).parent
_NAME_RE = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


@cache
def load_queries(file_stem: str, directory: Path = QUERIES_DIR) -> dict[str, str]:
    """Every `-- name: x` block of <directory>/<file_stem>.sql, keyed by name."""
    text = (directory / f"{file_stem}.sql").read_text(encoding="utf-8")
    parts = _NAME_RE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} defined twice in {file_stem}.sql")
        queries[name] = body.strip()
    return queries


def query(file_stem: str, name: str, directory: Path = QUERIES_DIR) -> str:
    return load_queries(file_stem, directory)[name]
