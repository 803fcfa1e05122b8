"""B1's least pass on recount's paths finds each lead's flags exactly as the full statement does: its hash paths are
the statement's own text, so the floor cannot drift from what it bounds."""

from __future__ import annotations

import re

from recount.bench.b1_seed import _SEED
from shared.queries import load_queries

_HASH_PATHS = re.compile(r"\breview_all AS \(.*?^\),\nsent_all AS \(.*?^\)", re.MULTILINE | re.DOTALL)


def test_the_floor_on_recounts_paths_reads_recount_partial_indexes_as_the_full_statement_does() -> None:
    statement = load_queries("inbox_counts")["recompute"]
    floor = load_queries("seed_inbox_counts", _SEED)["least_pass"]

    ours, its = _HASH_PATHS.search(statement), _HASH_PATHS.search(floor)
    assert ours is not None and its is not None
    assert its.group(0) == ours.group(0)
