"""B1: recompute cost per workspace, recount's one statement against the seed's two queries, side by side."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recount.dataset import WorkspaceShape, generate_workspace
from shared.postgres import PostgresDatabase
from shared.sql_queries import query

_SEED = Path(__file__).resolve().parent.parent / "queries"


@dataclass(frozen=True)
class Workspaces:
    sizes: dict[str, int]  # client id -> leads
    total_leads: int
    generate_s: float


@dataclass(frozen=True)
class B1Result:
    leads: int
    ours_ms: float
    seed_ms: float

    @property
    def ratio(self) -> float:
        return self.seed_ms / self.ours_ms if self.ours_ms else 0.0


def generate(db: PostgresDatabase, plan: list[tuple[int, int]]) -> Workspaces:
    """plan: (count, leads per workspace). Analyzed afterwards so both approaches get real statistics."""
    started = time.perf_counter()
    sizes = {}
    for count, leads in plan:
        for _ in range(count):
            sizes[generate_workspace(db, WorkspaceShape(leads=leads))] = leads
    db.run("ANALYZE")
    return Workspaces(sizes, sum(sizes.values()), time.perf_counter() - started)


def ours(db: PostgresDatabase, client_id: str) -> float:
    """The functions' statement, counts and writes, in a transaction rolled back so every run does the same."""
    started = time.perf_counter()
    db.run("BEGIN")
    db.run(query("inbox_counts", "recompute"), client_id=client_id, now=None)
    elapsed = time.perf_counter() - started
    db.run("ROLLBACK")
    return elapsed * 1000


def seed(db: PostgresDatabase, client_id: str) -> float:
    """The seed's approach (reads only, no writes: it is timed at its cheapest)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    db.run(query("seed_inbox_counts", "global_counts", _SEED), client_id=client_id, now=now)
    db.run(query("seed_inbox_counts", "setter_counts", _SEED), client_id=client_id, now=now)
    return (time.perf_counter() - started) * 1000


def measure(db: PostgresDatabase, workspaces: Workspaces, repeats: int) -> list[B1Result]:
    """Median of `repeats` alternating runs for one workspace of each size (after one warm-up each)."""
    by_size: dict[int, str] = {}
    for client_id, leads in workspaces.sizes.items():
        by_size.setdefault(leads, client_id)
    results = []
    for leads, client_id in sorted(by_size.items()):
        ours(db, client_id)
        seed(db, client_id)
        mine, theirs = [], []
        for _ in range(repeats):
            mine.append(ours(db, client_id))
            theirs.append(seed(db, client_id))
        results.append(B1Result(leads, statistics.median(mine), statistics.median(theirs)))
    return results
