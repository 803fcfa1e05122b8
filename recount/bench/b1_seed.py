"""What B1 measures recount's full job against: the seed's queries, the least pass that bounds any full job (the
contract's counts per assignee, and no more: recount/bench/job_floor.py runs it in the job's shape), and the paths
recount's lock query chooses."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from recount.commands.verify import COUNT_COLUMNS
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.keys import JobName
from shared.domain.passes import lock_parameters
from shared.domain.recompute import LOCK_CLASS
from shared.queries import query

_SEED = Path(__file__).resolve().parent.parent / "queries"
_SEED_QUERIES = ("global_counts", "setter_counts")


def inbox_paths(db: PostgresDatabase, client_id: str) -> dict[str, bool]:
    """Run the inbox lock query (in the caller's transaction) and return the paths it chose."""
    row = db.run(
        query("inbox_counts", "lock_and_read_marker"),
        lock_class=LOCK_CLASS[JobName.INBOX_COUNTS],
        **lock_parameters(client_id),
    )[0]
    return {"probe_review": bool(row["probe_review"]), "probe_sent": bool(row["probe_sent"])}


# What the least pass counts: every count of the contract but the one derived from two others.
LEAST_COUNTS = tuple(column for column in COUNT_COLUMNS if column != "awaiting_reply")


def least_pass(db: PostgresDatabase, client_id: str, paths: dict[str, bool]) -> dict[str, int]:
    """The least pass on `paths` (in the caller's transaction: it writes the global row as it is): the
    workspace's counts over its leads not snoozed, summed from its counts per assignee."""
    rows = db.run(query("seed_inbox_counts", "least_pass", _SEED), client_id=client_id, **paths)
    return {name: sum(int(row[name]) for row in rows) for name in LEAST_COUNTS}


def seed(db: PostgresDatabase, client_id: str) -> float:
    """The seed's approach (reads only, no writes: it is timed at its cheapest)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    for name in _SEED_QUERIES:
        db.run(query("seed_inbox_counts", name, _SEED), client_id=client_id, now=now)
    return (time.perf_counter() - started) * 1000


def seed_jit_compile_ms(db: PostgresDatabase, client_id: str) -> float:
    """JIT's total time (generation, inlining, optimization, emission) in the seed's queries, jit on."""
    db.run("SET jit = on")
    now = datetime.now(UTC).replace(tzinfo=None)
    total = 0.0
    for name in _SEED_QUERIES:
        plan = db.run(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + query("seed_inbox_counts", name, _SEED), client_id=client_id, now=now
        )[0]["QUERY PLAN"][0]
        total += float(plan.get("JIT", {}).get("Timing", {}).get("Total", 0.0))
    return total
