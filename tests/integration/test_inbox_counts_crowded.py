"""The inbox counts statement in a database full of other workspaces' review drafts and AI-sent emails.

The statement chooses by size how a lead learns whether it has a review draft or an AI-sent email: a probe per
lead while the workspace is small next to recount's partial indexes, else one read of each index into a hash.
Both paths must give exactly the oracle's counts, and none may count another workspace's rows.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from recount.bench.b1_seed import inbox_paths
from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.queries import query
from tests import oracle
from tests.builders import Workspace
from tests.integration.test_inbox_counts import seed

NOW = datetime(2026, 3, 1, 12, 0, 0)
OTHERS = 2_000  # leads of another workspace, each with a review draft and an AI-sent email
REVIEW_INDEX = "AIDraft_recount_review_leadId_idx"


def crowd(db: PostgresDatabase) -> None:
    """Another workspace whose every lead has a pending review draft and an AI-sent email from a draft."""
    other = Workspace.create(db)
    db.run(
        'INSERT INTO "Lead" (id, "clientId", "updatedAt") '
        "SELECT 'crowd-' || g, :id, now() FROM generate_series(1, :n) g",
        id=other.id,
        n=OTHERS,
    )
    db.run(
        'INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", "updatedAt") '
        "SELECT 'crowd-draft-' || g, 'crowd-' || g, 'd', 'email', 'pending', 'needs_review', now() "
        "FROM generate_series(1, :n) g",
        n=OTHERS,
    )
    db.run(
        'INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", "aiDraftId") '
        "SELECT 'crowd-msg-' || g, 'crowd-' || g, 'email', 'zrg', 'hi', 'outbound', 'ai', 'crowd-draft-' || g "
        "FROM generate_series(1, :n) g",
        n=OTHERS,
    )
    db.run("ANALYZE")  # the statistics the lock query chooses by


def random_specs(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Leads with every kind of draft and message, some snoozed, spread over three setters."""
    specs = []
    for _ in range(n):
        specs.append(
            {
                "status": rng.choice(["new", "blacklisted", "unqualified", "needs_repair"]),
                "sentimentTag": rng.choice([None, "Positive", "Not Interested"]),
                "lastInboundAt": rng.choice([None, NOW - timedelta(days=2)]),
                "lastOutboundAt": rng.choice([None, NOW - timedelta(days=1), NOW - timedelta(days=3)]),
                "snoozedUntil": rng.choice([None, None, NOW + timedelta(hours=1), NOW - timedelta(hours=1)]),
                "assignedToUserId": rng.choice([None, "setter-a", " setter-b ", "setter-c"]),
                "drafts": rng.sample(
                    [("pending", "needs_review"), ("approved", "needs_review"), ("pending", "skip")], rng.randint(0, 2)
                ),
                "messages": rng.sample(
                    [{}, {"channel": "sms"}, {"sent_by": "setter"}, {"draft": False}, {"direction": "inbound"}],
                    rng.randint(0, 2),
                ),
            }
        )
    return specs


def plan_nodes(db: PostgresDatabase, client_id: str) -> list[dict[str, Any]]:
    """Every node of the recompute statement's executed plan, with the paths the lock query chose."""
    db.run("BEGIN")
    try:
        paths = inbox_paths(db, client_id)  # the lock query chooses them, as in a job
        [row] = db.run(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + query("inbox_counts", "recompute"),
            client_id=client_id,
            now=None,
            **paths,
        )
    finally:
        db.run("ROLLBACK")
    plan = row["QUERY PLAN"]
    pending = [json.loads(plan)[0]["Plan"]] if isinstance(plan, str) else [plan[0]["Plan"]]
    nodes = []
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


def scans_of(db: PostgresDatabase, client_id: str, table: str) -> int:
    """How many times the statement scanned `table` (once per lead when it probes, once when it hashes)."""
    return max(
        (int(n.get("Actual Loops", 0)) for n in plan_nodes(db, client_id) if n.get("Relation Name") == table), default=0
    )


def recompute_and_compare(
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    ws: Workspace,
    records: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=NOW).run(ws.id, JobContext("req-1", "test"))
    assert ws.counts() == oracle.inbox_counts(*records, NOW)


def test_given_a_small_workspace_among_many_others_then_it_probes_per_lead_and_counts_exactly(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    crowd(db)
    ws = Workspace.create(db)
    records = seed(ws, random_specs(random.Random(7), 40))

    recompute_and_compare(db, cache, settings, ws, records)

    # 40 leads * 20 < 2,000 index entries: a probe per lead, never a read of the whole index
    assert scans_of(db, ws.id, "AIDraft") > 1 and scans_of(db, ws.id, "Message") > 1


def test_given_a_workspace_big_next_to_the_indexes_then_it_hashes_them_and_counts_exactly(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    crowd(db)
    ws = Workspace.create(db)
    records = seed(ws, random_specs(random.Random(11), 150))
    db.run("ANALYZE")

    recompute_and_compare(db, cache, settings, ws, records)

    # 150 leads * 20 > every index's entries: each index read once, none of the crowd counted
    assert scans_of(db, ws.id, "AIDraft") == 1 and scans_of(db, ws.id, "Message") == 1


@pytest.mark.parametrize("loss", ["dropped", "invalid"])
def test_given_recounts_review_index_missing_or_invalid_then_drafts_are_read_once_and_migrate_rebuilds_it(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, database_url: str, loss: str
) -> None:
    # A failed CREATE INDEX CONCURRENTLY leaves an invalid index: probing through it would scan AIDraft per lead
    crowd(db)
    ws = Workspace.create(db)
    records = seed(ws, random_specs(random.Random(5), 30))
    try:
        if loss == "dropped":
            db.run(f'DROP INDEX "{REVIEW_INDEX}"')
        else:
            db.run(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('\"{REVIEW_INDEX}\"')")

        recompute_and_compare(db, cache, settings, ws, records)

        assert scans_of(db, ws.id, "AIDraft") == 1, "drafts read once, not scanned per lead"
        assert scans_of(db, ws.id, "Message") > 1, "emails still probed through their own index"
    finally:
        migrate(db, recount_only=True)
    assert db.run(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)", name=f'"{REVIEW_INDEX}"'
    ) == [{"indisvalid": True}]
