"""B6: database growth. The same workspace's recompute in B1's data set and in a copy of it whose rest has grown
about 4x in AI-sent emails and pending review drafts (none of them the workspace's own), run by run in turn."""

from __future__ import annotations

import statistics
import uuid
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
    repeats: int = 0
    grown_url: str = ""  # the grown copy, kept for B9 until the run drops it

    @property
    def ratio(self) -> float:
        return self.after_ms / self.before_ms if self.before_ms else 0.0


def run(server_url: str, database_url: str, b1: B1Report, leads: int, repeats: int) -> B6Result:
    """On B1's data set: the workspace of `leads` leads (or the nearest size B1 has), in the data set and in a
    grown copy of it (made from it as a template: nothing may be connected to it meanwhile), one warm-up on each,
    then `repeats` rounds of both in turn, the order alternating; medians. The caller drops the copy."""
    size = min(b1.workspaces.sizes.values(), key=lambda n: (abs(n - leads), n))
    client_id = next(cid for cid, n in b1.workspaces.sizes.items() if n == size)
    grown_url = _copy(server_url, database_url)
    before = PostgresDatabase(database_url, statement_timeout_ms=600_000)
    after = PostgresDatabase(grown_url, statement_timeout_ms=600_000)
    try:
        _grow(after, client_id)
        times: dict[bool, list[float]] = {False: [], True: []}
        for db in (before, after):
            ours(db, client_id)  # a warm-up of each
        for round_ in range(repeats):
            for db in (before, after) if round_ % 2 == 0 else (after, before):
                times[db is after].append(ours(db, client_id))
        return B6Result(
            size,
            statistics.median(times[False]),
            statistics.median(times[True]),
            _entries(before),
            _entries(after),
            repeats,
            grown_url,
        )
    except BaseException:
        drop(server_url, grown_url)
        raise
    finally:
        before.close()
        after.close()


def drop(server_url: str, url: str) -> None:
    admin = PostgresDatabase(server_url)
    admin.run(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
    admin.close()


def _copy(server_url: str, database_url: str) -> str:
    base, _, name = database_url.rpartition("/")
    copy = f"{name[:40]}_grown_{uuid.uuid4().hex[:8]}"
    admin = PostgresDatabase(server_url, statement_timeout_ms=600_000)
    try:
        admin.run(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    finally:
        admin.close()
    return f"{base}/{copy}"


def _entries(db: PostgresDatabase) -> dict[str, int]:
    return {what: int(db.run(query(_QUERIES_FILE, name, _QUERIES))[0]["n"]) for what, name in _PARTIAL.items()}


def _grow(db: PostgresDatabase, client_id: str) -> None:
    """GROWTH - 1 more copies of every other workspace's review draft and AI-sent email, then vacuum and analyze."""
    for name in ("grow_review_drafts", "grow_ai_sent_emails"):
        db.run(query(_QUERIES_FILE, name, _QUERIES), client_id=client_id, copies=GROWTH - 1)
    db.run(query(_QUERIES_FILE, "vacuum_analyze", _QUERIES))
