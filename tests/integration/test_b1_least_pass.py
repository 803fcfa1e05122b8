"""B1's least pass, the floor under any full job, counts the leads and finds the flags the full statement does, on
either path (a probe per lead, or recount's partial indexes read once): a floor that finds other leads bounds
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recount.bench.b1_seed import least_pass
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from tests.builders import new_id
from tests.integration.test_generic_full_pass import workspace_of

PATHS = {
    "probed": {"probe_review": True, "probe_sent": True},
    "hashed": {"probe_review": False, "probe_sent": False},
    "mixed": {"probe_review": False, "probe_sent": True},
}


@pytest.mark.parametrize("path", PATHS)
def test_the_least_pass_counts_what_the_full_statement_counts(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, path: str
) -> None:
    # Given a workspace of every shape of lead, one more snoozed past now with a review draft, and another workspace
    workspace = workspace_of(db, 60, 0)
    snoozed = workspace.lead(status="new", snoozedUntil=datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2))
    workspace.draft(snoozed, status="pending")
    workspace_of(db, 30, 7)

    # When the full job recomputes it, and the least pass counts it
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(workspace.id, JobContext(new_id(), "test"))
    counted = least_pass(db, workspace.id, PATHS[path])

    # Then both saw the same leads and the same flags
    row = db.run(
        'SELECT total, "aiReview", "aiSent" FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal"', id=workspace.id
    )[0]
    assert counted == {"leads": row["total"], "ai_review": row["aiReview"], "ai_sent": row["aiSent"]}
    assert counted["leads"] == 60  # the lead snoozed past now is not counted; those snoozed till June are
    assert counted["ai_review"] > 0 and counted["ai_sent"] > 0
