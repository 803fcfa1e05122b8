"""B6: database growth. The same workspace's recompute before and after the rest of the database grows about
4x in AI-sent emails and pending review drafts (none of them the workspace's own)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from recount.bench.b1_recompute import B1Report, ours
from shared.adapters.postgres import PostgresDatabase
from shared.queries import query

GROWTH = 4  # the others' review drafts and AI-sent emails, after over before
# recount's partial indexes: the kind of row each covers, and the query counting them in the whole database.
_PARTIAL = {"review drafts": "count_review_drafts", "AI-sent emails": "count_ai_sent_emails"}
_QUERIES = Path(__file__).resolve().parent.parent / "queries"
_QUERIES_FILE = "database_growth"


@dataclass(frozen=True)
class B6Result:
    leads: int
    before_ms: float
    after_ms: float
    entries_before: dict[str, int]  # recount's partial indexes: rows the whole database has of each kind
    entries_after: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.after_ms / self.before_ms if self.before_ms else 0.0


def run(database_url: str, b1: B1Report, leads: int, repeats: int) -> B6Result:
    """On B1's data set: the workspace of `leads` leads (or the nearest size B1 has), measured before and after
    the growth; medians of `repeats` runs after a warm-up each time."""
    size = min(b1.workspaces.sizes.values(), key=lambda n: (abs(n - leads), n))
    client_id = next(cid for cid, n in b1.workspaces.sizes.items() if n == size)
    db = PostgresDatabase(database_url, statement_timeout_ms=600_000)
    try:
        before_entries, before_ms = _entries(db), _median(db, client_id, repeats)
        _grow(db, client_id)
        return B6Result(size, before_ms, _median(db, client_id, repeats), before_entries, _entries(db))
    finally:
        db.close()


def _median(db: PostgresDatabase, client_id: str, repeats: int) -> float:
    ours(db, client_id)
    return statistics.median(ours(db, client_id) for _ in range(repeats))


def _entries(db: PostgresDatabase) -> dict[str, int]:
    return {what: int(db.run(query(_QUERIES_FILE, name, _QUERIES))[0]["n"]) for what, name in _PARTIAL.items()}


def _grow(db: PostgresDatabase, client_id: str) -> None:
    """GROWTH - 1 more copies of every other workspace's review draft and AI-sent email, then vacuum and analyze."""
    for name in ("grow_review_drafts", "grow_ai_sent_emails"):
        db.run(query(_QUERIES_FILE, name, _QUERIES), client_id=client_id, copies=GROWTH - 1)
    db.run(query(_QUERIES_FILE, "vacuum_analyze", _QUERIES))
