"""The incremental inbox job (docs/design.md §10): with the capture on, a dirty job with lead changes and no
workspace mark recomputes only those leads, against what each contributed last, and ends where a full
recompute would: the same rows, the change stamp moved only on a change, the changes consumed exactly, a
change recorded while it runs kept, snoozes that ended moved in, and a replay with nothing left to apply."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, InboxCountsDirty, new_event
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings, SweepSettings
from shared.contracts.status import JobContext
from shared.domain.jobs import plan_inbox_counts
from shared.domain.passes import FEW_CHANGES, STATE_RULES, Pass
from shared.domain.recompute import Recompute, RecomputeOutcome
from shared.domain.sweep import sweep_inbox
from shared.queries import query
from shared.telemetry import set_emf
from tests import oracle
from tests.builders import Workspace, new_id
from tests.integration.test_dirty_triggers import (  # noqa: F401 (fixtures)
    lead_changes,
    triggers_database_url,
    triggers_db,
)
from tests.unit.fakes import FakeClients

T0 = datetime(2026, 6, 1, 12, 0, 0)


def dirty_job(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str, now: datetime | None = None
) -> tuple[Pass | None, RecomputeOutcome | None]:
    """One dirty job as the inbox function plans it, at `now` (the database's clock when None)."""
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=now)
    lease = recompute.begin(client_id, JobContext(new_id(), "test"), incremental=True)
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="test")
    assert isinstance(event, InboxCountsDirty)
    plan = plan_inbox_counts(event, lease)
    if plan.key is None:
        recompute.skip(lease, plan.reason)
        return None, None
    lease.how = plan.how
    return plan.how, recompute.finish(lease)


def expected(db: PostgresDatabase, client_id: str, now: datetime) -> dict[str, dict[str, int]]:
    leads = db.run('SELECT * FROM "Lead" WHERE "clientId" = :id', id=client_id)
    ids = [lead["id"] for lead in leads]
    drafts = db.run('SELECT * FROM "AIDraft" WHERE "leadId" = ANY(CAST(:ids AS text[]))', ids=ids)
    messages = db.run('SELECT * FROM "Message" WHERE "leadId" = ANY(CAST(:ids AS text[]))', ids=ids)
    return oracle.inbox_counts(leads, drafts, messages, now)


def state_differences(db: PostgresDatabase, client_id: str) -> int:
    row = db.run(query("inbox_counts", "state_differences"), client_id=client_id, rules=STATE_RULES)[0]
    return int(row["differing"])


def stamp(db: PostgresDatabase, client_id: str) -> datetime:
    rows = db.run('SELECT "updatedAt" AS at FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal"', id=client_id)
    at: datetime = rows[0]["at"]
    return at


@pytest.fixture
def built(
    triggers_db: PostgresDatabase,  # noqa: F811
    cache: RedisStore,
    settings: RecomputeSettings,
) -> tuple[PostgresDatabase, Workspace, list[str]]:
    """A workspace of six leads over two setters, computed once in full (the state built)."""
    workspace = Workspace.create(triggers_db)
    leads = [
        workspace.lead(
            status="new",
            sentimentTag="Interested",
            lastInboundAt=T0 - timedelta(hours=i),
            assignedToUserId=("setter-1" if i % 2 else "setter-2"),
        )
        for i in range(6)
    ]
    workspace.mark_dirty()
    how, _ = dirty_job(triggers_db, cache, settings, workspace.id, T0)
    assert how is Pass.FULL_WITH_STATE and lead_changes(triggers_db) == []
    return triggers_db, workspace, leads


def test_one_changed_lead_is_applied_incrementally_and_ends_where_a_full_recompute_would(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    before = stamp(db, workspace.id)
    db.run("UPDATE \"Lead\" SET status = 'blacklisted', \"assignedToUserId\" = 'setter-3' WHERE id = :id", id=leads[0])

    how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))

    assert how is Pass.INCREMENTAL and outcome is not None and outcome.changed
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=1))
    assert state_differences(db, workspace.id) == 0 and lead_changes(db) == []
    assert stamp(db, workspace.id) > before


def test_a_replay_finds_nothing_left_to_apply_and_a_change_no_count_sees_moves_no_stamp(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[1])
    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))[0] is Pass.INCREMENTAL
    counts, after = workspace.counts(), stamp(db, workspace.id)

    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2)) == (None, None)  # clean
    # a setter that trims to the same one: recorded, applied, and nothing changed
    db.run('UPDATE "Lead" SET "assignedToUserId" = \' setter-1 \' WHERE id = :id', id=leads[1])
    how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=3))
    assert how is Pass.INCREMENTAL and outcome is not None and not outcome.changed
    assert workspace.counts() == counts and stamp(db, workspace.id) == after


def test_a_setter_emptied_loses_its_row_and_refilled_gets_it_back(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run('UPDATE "Lead" SET "assignedToUserId" = \'setter-2\' WHERE "assignedToUserId" = \'setter-1\'')
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
    assert set(workspace.counts()) == {"global", "setter-2"}

    db.run('UPDATE "Lead" SET "assignedToUserId" = \'setter-1\' WHERE id = :id', id=leads[0])
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2))
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=2))
    assert set(workspace.counts()) == {"global", "setter-1", "setter-2"}


def test_a_lead_moved_between_workspaces_leaves_one_and_joins_the_other(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, first, leads = built
    second = Workspace.create(db)
    second.lead(status="new")
    second.mark_dirty()
    dirty_job(db, cache, settings, second.id, T0)

    db.run('UPDATE "Lead" SET "clientId" = :to WHERE id = :id', to=second.id, id=leads[2])
    now = T0 + timedelta(minutes=1)
    assert dirty_job(db, cache, settings, second.id, now)[0] is Pass.INCREMENTAL
    assert dirty_job(db, cache, settings, first.id, now)[0] is Pass.INCREMENTAL

    for workspace in (first, second):
        assert workspace.counts() == expected(db, workspace.id, now)
        assert state_differences(db, workspace.id) == 0
    assert first.counts()["global"]["total"] == 5 and second.counts()["global"]["total"] == 2


def test_deleted_drafts_and_messages_that_change_lead_move_ai_counts(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    draft = workspace.draft(leads[0])
    message = workspace.message(leads[1], ai_draft_id=workspace.draft(leads[1], status="approved"))
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
    assert workspace.counts()["global"]["aiReview"] == 1 and workspace.counts()["global"]["aiSent"] == 1

    db.run('DELETE FROM "AIDraft" WHERE id = :id', id=draft)
    db.run('DELETE FROM "AIDraft" WHERE "leadId" = :lead', lead=leads[1])  # the message's aiDraftId goes null
    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2))[0] is Pass.INCREMENTAL
    assert workspace.counts()["global"]["aiReview"] == 0 and workspace.counts()["global"]["aiSent"] == 0

    other = workspace.draft(leads[3], status="approved")
    db.run('UPDATE "Message" SET "aiDraftId" = :d, "leadId" = :lead WHERE id = :id', d=other, lead=leads[3], id=message)
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=3))
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=3))
    assert state_differences(db, workspace.id) == 0


def test_a_snooze_that_ended_moves_its_lead_in_with_no_write(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=T0 + timedelta(hours=1), id=leads[4])
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
    assert workspace.counts()["global"]["total"] == 5

    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=30)) == (None, None)  # not yet
    how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(hours=2))

    assert how is Pass.INCREMENTAL and outcome is not None and outcome.changed
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(hours=2))
    assert workspace.counts()["global"]["total"] == 6


def test_many_changes_take_the_full_pass_and_a_workspace_mark_always_does(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, _ = built
    for _ in range(FEW_CHANGES + 1):
        workspace.lead(status="new")
    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))[0] is Pass.FULL_WITH_STATE
    assert lead_changes(db) == []

    workspace.lead(status="new")
    workspace.mark_dirty()
    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2))[0] is Pass.FULL_WITH_STATE
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=2))
    assert state_differences(db, workspace.id) == 0


def test_a_change_recorded_while_the_job_runs_survives_it(
    built: tuple[PostgresDatabase, Workspace, list[str]],
    triggers_database_url: str,  # noqa: F811
    cache: RedisStore,
    settings: RecomputeSettings,
) -> None:
    """A writer holds its change row (its transaction is open) while the job runs: the job skips that row
    rather than wait on it or consume it, and the next job applies the write."""
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])
    writer = PostgresDatabase(triggers_database_url)
    try:
        writer.run("BEGIN")
        writer.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[1])
        db.run("UPDATE \"Lead\" SET status = 'unqualified' WHERE id = :id", id=leads[2])
        how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
        assert how is Pass.INCREMENTAL and outcome is not None
        writer.run("COMMIT")
    finally:
        writer.close()
    assert lead_changes(db) == [(workspace.id, leads[1])]
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2))
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=2))
    assert state_differences(db, workspace.id) == 0 and lead_changes(db) == []


def test_verify_names_a_state_that_drifted_from_the_leads(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    with db.transaction():
        db.run("SET LOCAL session_replication_role = replica")  # the triggers do not fire: a capture missed
        db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[5])
    assert state_differences(db, workspace.id) == 1
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])  # a captured one beside it

    outcome = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0 + timedelta(minutes=1)).run(
        workspace.id, JobContext(new_id(), "test")
    )  # an explicit recompute: the full pass, which repairs what it finds and says so

    assert outcome.how is Pass.FULL_WITH_STATE and outcome.state_drift == 1
    assert state_differences(db, workspace.id) == 0 and lead_changes(db) == []
    assert workspace.counts() == expected(db, workspace.id, T0 + timedelta(minutes=1))


def test_a_truncate_marks_every_workspace_and_its_full_pass_reports_no_drift(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, _ = built
    db.run('TRUNCATE "Lead" CASCADE')

    how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))

    assert how is Pass.FULL_WITH_STATE and outcome is not None and outcome.state_drift == 0
    assert workspace.counts()["global"]["total"] == 0 and state_differences(db, workspace.id) == 0


def test_the_sweep_sends_a_dirty_event_for_recorded_changes_and_audits_kept_state(
    built: tuple[PostgresDatabase, Workspace, list[str]],
) -> None:
    db, workspace, leads = built
    untouched = Workspace.create(db)  # never computed: no kept state, nothing recorded once its lead is gone
    db.run("DELETE FROM recount_lead_change WHERE client_id = :id", id=untouched.id)
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])
    clients = FakeClients(db=cast(Any, db))
    clients.sweep = SweepSettings.model_construct(min_age_s=0.0, audit_workspaces=5)
    set_emf(False)
    try:
        report = sweep_inbox(clients, "test")
    finally:
        set_emf(True)

    sent = [json.loads(message.body) for _, message in clients.sqs.sent]
    assert [(event["name"], event["data"]["clientId"]) for event in sent] == [
        ("inbox.counts.dirty", workspace.id)  # the audit leaves out what this sweep already enqueued
    ]
    assert report.enqueued_changed == 1 and report.enqueued_audits == 0 and report.backlog == 1

    db.run("DELETE FROM recount_lead_change")
    clients.sqs.sent.clear()
    set_emf(False)
    try:
        report = sweep_inbox(clients, "test")
    finally:
        set_emf(True)
    sent = [json.loads(message.body) for _, message in clients.sqs.sent]
    assert [(event["name"], event["data"]["clientId"], event["data"]["source"]) for event in sent] == [
        ("inbox.counts.recompute", workspace.id, "audit")
    ]
    assert report.enqueued_audits == 1


def test_a_lease_for_the_incremental_pass_chooses_no_full_pass_paths_and_keeps_its_plan_settings(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    # Given one recorded change on a workspace whose state is whole
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[0])
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0 + timedelta(minutes=1))

    # When a dirty job takes the lease: the incremental pass, no size counted, nested loops left as they were,
    # the statement's plan kept once prepared; a full pass on that lease is refused, not run without its paths
    lease = recompute.begin(workspace.id, JobContext(new_id(), "test"), incremental=True)
    try:
        assert lease.pending.incremental and lease.paths == {}
        assert db.run("SHOW enable_nestloop")[0]["enable_nestloop"] == "on"
        assert db.run("SHOW plan_cache_mode")[0]["plan_cache_mode"] == "force_generic_plan"
        lease.how = Pass.FULL_WITH_STATE
        with pytest.raises(ValueError, match="incremental"):
            recompute.finish(lease)
    finally:
        recompute.abandon(lease)

    # Then a lease for a full pass (an explicit recompute) still chooses its paths, with the session's plan cache
    lease = recompute.begin(workspace.id, JobContext(new_id(), "test"))
    try:
        assert not lease.pending.incremental and set(lease.paths) == {"probe_review", "probe_sent"}
        assert db.run("SHOW plan_cache_mode")[0]["plan_cache_mode"] == "force_custom_plan"
    finally:
        recompute.abandon(lease)


def test_a_dirty_job_that_takes_the_full_pass_plans_it_with_the_sessions_own_plan_cache_mode(
    built: tuple[PostgresDatabase, Workspace, list[str]], cache: RedisStore, settings: RecomputeSettings
) -> None:
    # Given a workspace marked by the app: a dirty job takes the full pass
    db, workspace, _ = built
    workspace.mark_dirty()
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0 + timedelta(minutes=1))

    # When a dirty job takes the lease (its transaction began with generic plans)
    lease = recompute.begin(workspace.id, JobContext(new_id(), "test"), incremental=True)
    try:
        # Then the lock query chose the full pass and gave its statement back the session's setting
        assert not lease.pending.incremental and set(lease.paths) == {"probe_review", "probe_sent"}
        assert db.run("SHOW plan_cache_mode")[0]["plan_cache_mode"] == "force_custom_plan"
    finally:
        recompute.abandon(lease)
