"""verify: materialized counts against the functions' own fresh computation, in a transaction rolled back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import LOCK_CLASS, Recompute
from tests.builders import GLOBAL_SCOPE, Workspace
from tests.integration.operator.conftest import Operator


def _computed(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, setters: int = 2) -> Workspace:
    workspace = Workspace.create(db)
    for index in range(setters):
        lead = workspace.lead(
            status="new",
            sentimentTag="Interested",
            assignedToUserId=f"setter-{index}",
            lastInboundAt=datetime(2026, 1, 2),
        )
        workspace.message(lead, ai_draft_id=workspace.draft(lead))
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(workspace.id, JobContext("setup", "test"))
    return workspace


def _ago(**delta: float) -> datetime:
    return (datetime.now(UTC) - timedelta(**delta)).replace(tzinfo=None)


def _snapshot(db: PostgresDatabase, raw_redis: redis.Redis) -> dict[str, Any]:
    return {
        "rows": db.run('SELECT *, xmin::text AS generation FROM "InboxCounts" ORDER BY id'),
        "markers": db.run('SELECT *, xmin::text AS generation FROM "InboxCountsDirty" ORDER BY "clientId"'),
        "redis": {key: raw_redis.dump(key) for key in sorted(raw_redis.keys("*"))},
    }


def test_verify_tells_ok_drift_and_pending_apart_and_writes_nothing(
    operator: Operator, db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, raw_redis: redis.Redis
) -> None:
    # Given one fresh workspace, one whose global row was corrupted, one marked dirty after a lead write
    fresh, corrupted, dirty = (_computed(db, cache, settings) for _ in range(3))
    db.run('UPDATE "InboxCounts" SET total = total + 5 WHERE "clientId" = :id AND "isGlobal"', id=corrupted.id)
    dirty.lead(status="new")
    dirty.mark_dirty()
    # And one computed two hours ago, around a lead whose snooze ended an hour ago (no write, no mark)
    snoozed = Workspace.create(db)
    snoozed.lead(status="new", snoozedUntil=_ago(hours=1))
    Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=_ago(hours=2)).run(snoozed.id, JobContext("s", "t"))
    before = _snapshot(db, raw_redis)

    result = operator.run("verify", "--all")

    assert result.returncode == 1, result.stdout + result.stderr
    lines = {
        line.split()[1].rstrip(":"): line
        for line in result.stdout.splitlines()
        if line.split()[0] in ("ok", "drift", "pending", "busy", "missing")
    }
    assert lines[fresh.id] == f"ok {fresh.id}"
    assert lines[corrupted.id].startswith(f"drift {corrupted.id}: global: total 7->2")
    assert lines[dirty.id].startswith(f"pending {dirty.id}: dirty since ")
    assert lines[dirty.id].endswith(
        "differs: global: total 2->3; global: total_non_blacklisted 2->3; global: awaiting_reply 0->1"
    )
    assert lines[snoozed.id].startswith(f"pending {snoozed.id}: a snooze expired since ")
    assert "4 workspace(s): 1 ok, 1 drift, 2 pending, 0 busy, 0 missing" in result.stdout
    # And nothing was written: rows, their computedAt and xmin, the marker, Redis
    assert _snapshot(db, raw_redis) == before
    assert dirty.dirty_marker() is not None


def test_verify_exits_0_on_freshly_recomputed_workspaces(
    operator: Operator, db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    workspaces = [_computed(db, cache, settings, setters=index) for index in range(3)]
    by_id = operator.run("verify", "--client-id", workspaces[1].id, "--client-id", workspaces[2].id)
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert "2 workspace(s): 2 ok, 0 drift" in by_id.stdout

    sampled = operator.json("verify", "--sample", "10")
    assert sampled["summary"]["workspaces"] == 3 and sampled["summary"]["ok"] == 3
    assert {r["clientId"] for r in sampled["results"]} == {w.id for w in workspaces}


def test_verify_reports_a_workspace_being_recomputed_as_busy(
    operator: Operator, db: PostgresDatabase, other_db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    workspace = _computed(db, cache, settings)
    db.run('UPDATE "InboxCounts" SET "aiSent" = 9 WHERE "clientId" = :id AND "isGlobal"', id=workspace.id)
    # Given a recompute holding the workspace's lock
    other_db.run("BEGIN")
    other_db.run("SELECT pg_advisory_xact_lock(:c, hashtext(:id))", c=LOCK_CLASS[JobName.INBOX_COUNTS], id=workspace.id)
    try:
        result = operator.run("verify", "--client-id", workspace.id)
    finally:
        other_db.run("ROLLBACK")
    assert result.returncode == 0, result.stdout
    assert f"busy {workspace.id}" in result.stdout


def test_verify_selection_is_checked_first(operator: Operator) -> None:
    result = operator.run("verify")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: choose exactly one of --all, --sample N and --client-id ID"


def test_a_never_computed_workspace_without_a_marker_is_drift(operator: Operator, db: PostgresDatabase) -> None:
    workspace = Workspace.create(db)
    workspace.lead(status="new")
    result = operator.run("verify", "--client-id", workspace.id)
    assert result.returncode == 1
    assert f"drift {workspace.id}: global: row missing" in result.stdout
    assert db.run('SELECT count(*) AS n FROM "InboxCounts"')[0]["n"] == 0
    assert GLOBAL_SCOPE


def test_explain_names_each_count_that_differs_by_how_much_and_the_leads_changed_without_a_mark(
    operator: Operator, db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, raw_redis: redis.Redis
) -> None:
    # Given a computed workspace, then an app write path that changed a lead and did not mark the workspace
    workspace = _computed(db, cache, settings)
    lead = db.run('SELECT id FROM "Lead" WHERE "clientId" = :id AND "assignedToUserId" = \'setter-0\'', id=workspace.id)
    db.run(
        "UPDATE \"Lead\" SET status = 'needs_repair', \"updatedAt\" = now() AT TIME ZONE 'UTC' + interval '1 second' "
        "WHERE id = :id",
        id=lead[0]["id"],
    )
    before = _snapshot(db, raw_redis)

    result = operator.run("verify", "--explain", workspace.id)

    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert text.startswith(f"drift {workspace.id}: global: needs_repair 0->1")
    for scope in ("global", "setter-0"):
        assert f"{scope} │ needs_repair │ 0 │ 1 │ +1 │ Lead.status to or from needs_repair" in text
    assert "changed since then: 1 lead(s), 0 message(s) created, 0 AI draft(s)" in text
    assert f"lead {lead[0]['id']} updated at" in text and "without marking it dirty" in text
    assert _snapshot(db, raw_redis) == before  # it wrote nothing

    as_json = operator.run("verify", "--explain", workspace.id, "--json")
    assert '"count": "needs_repair"' in as_json.stdout and '"leads_changed": 1' in as_json.stdout


def test_explain_takes_one_valid_workspace_and_nothing_else(operator: Operator) -> None:
    both = operator.run("verify", "--explain", "ws-1", "--all")
    bad = operator.run("verify", "--explain", "not a valid id")

    assert both.returncode == 2 and "--explain takes one workspace" in both.stderr
    assert bad.returncode == 2 and "not a valid id" in bad.stderr


def test_explain_of_a_busy_workspace_says_busy_and_nothing_else_and_of_a_new_one_that_it_was_never_computed(
    operator: Operator, db: PostgresDatabase, other_db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    workspace = _computed(db, cache, settings)
    never = Workspace.create(db)
    never.lead(status="new")
    other_db.run("BEGIN")  # a recompute holds the workspace's lock
    other_db.run("SELECT pg_advisory_xact_lock(:c, hashtext(:id))", c=LOCK_CLASS[JobName.INBOX_COUNTS], id=workspace.id)
    try:
        busy = operator.run("verify", "--explain", workspace.id)
    finally:
        other_db.run("ROLLBACK")
    first = operator.run("verify", "--explain", never.id)

    assert busy.returncode == 0 and busy.stdout.strip().splitlines() == [
        f"busy {workspace.id}: a recompute holds the workspace's lock"
    ]
    assert first.returncode == 1
    assert first.stdout.splitlines()[1] == "no materialized counts yet: the workspace was never computed"
