"""B3's floor sends recount's own inbox statements, given to it as data: what it binds must be all they take."""

from __future__ import annotations

import json
import re
from pathlib import Path

from recount.bench.b3_cold_start import floor_postgres
from shared.queries import load_queries

# a :name placeholder, not a ::type cast
_PLACEHOLDER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
# what the floor binds to the full recompute besides the lock row's paths (recount/bench/b3_floor_handler.py)
_FULL = {"client_id", "now", "probe_review", "probe_sent"}


def _placeholders(sql: str) -> set[str]:
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())  # comments name parameters too
    return set(_PLACEHOLDER.findall(code))


def test_the_floor_binds_exactly_the_parameters_of_the_inbox_statements_it_sends() -> None:
    sent = json.loads(floor_postgres("postgresql://floor@127.0.0.1:5432/bench"))
    queries = load_queries(Path(sent["queries"]).stem, Path(sent["queries"]).parent)
    names = sent["statements"]
    assert _placeholders(queries[names["lock"]]) == {"client_id", *sent["lock"]}
    assert _placeholders(queries[names["full"]]) == _FULL
    assert _placeholders(queries[names["full_with_state"]]) == {*_FULL, "rules"}
    assert sent["begin"].startswith("BEGIN") and sent["settings"]["jit"] == "off"
