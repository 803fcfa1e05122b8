# ruff: noqa: F811  (pytest fixtures imported by name)
"""Issue 28, attacked as an adversary would: races between a write and a job, leads moved twice in one
transaction, setters emptied and refilled, snoozes at the boundaries, workspaces deleted or renamed with changes
pending, the capture toggled. After the jobs drain, the counts equal the oracle, the state equals fresh
contributions, no change row is left, and the change stamp only moved forward."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pg8000.native
import pytest

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_url import connection_kwargs
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, InboxCountsDirty, new_event
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.jobs import plan_inbox_counts
from shared.domain.passes import FEW_CHANGES, Pass
from shared.domain.recompute import Recompute
from tests.builders import Workspace, new_id
from tests.integration.pgbouncer import transaction_pooler
from tests.integration.schema_change import apply
from tests.integration.test_dirty_triggers import (  # noqa: F401 (fixtures)
    lead_changes,
    triggers_database_url,
    triggers_db,
)
from tests.integration.test_incremental_counts import (  # noqa: F401 (fixture)
    T0,
    built,
    dirty_job,
    expected,
    stamp,
    state_differences,
)

Built = tuple[PostgresDatabase, Workspace, list[str]]


def drain(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, now: datetime, rounds: int = 4
) -> list[Pass]:
    """Dirty jobs for every workspace with a mark or a recorded change, until none is left (bounded)."""
    passes: list[Pass] = []
    for _ in range(rounds):
        due = [
            row["id"]
            for row in db.run(
                'SELECT "clientId" AS id FROM "InboxCountsDirty" UNION SELECT client_id FROM recount_lead_change'
            )
        ]
        if not due:
            break
        for client_id in sorted(due):
            how, _ = dirty_job(db, cache, settings, client_id, now)
            if how is not None:
                passes.append(how)
    return passes


def assert_exact(db: PostgresDatabase, workspaces: list[Workspace], now: datetime) -> None:
    for workspace in workspaces:
        assert workspace.counts() == expected(db, workspace.id, now), workspace.id
        assert state_differences(db, workspace.id) == 0, workspace.id
    assert lead_changes(db) == []


def second_workspace(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings) -> Workspace:
    other = Workspace.create(db)
    other.lead(status="new", assignedToUserId="setter-1")
    other.mark_dirty()
    assert dirty_job(db, cache, settings, other.id, T0)[0] is Pass.FULL_WITH_STATE
    return other


# --- races between a write and a job ---------------------------------------------------------------------------


def test_a_write_committing_between_the_lock_query_and_apply_changes_is_counted_once(
    built: Built,
    triggers_database_url: str,
    cache: RedisStore,
    settings: RecomputeSettings,
) -> None:
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[0])
    now = T0 + timedelta(minutes=1)
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=now)
    lease = recompute.begin(workspace.id, JobContext(new_id(), "test"), incremental=True)
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id=workspace.id, source="test")
    assert isinstance(event, InboxCountsDirty)
    plan = plan_inbox_counts(event, lease)
    assert plan.how is Pass.INCREMENTAL
    writer = PostgresDatabase(triggers_database_url)
    try:  # a second write to the same lead, and one to another lead, commit under the job's lock
        writer.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[0])
        writer.run('UPDATE "Lead" SET "assignedToUserId" = \'setter-9\' WHERE id = :id', id=leads[1])
    finally:
        writer.close()
    lease.how = plan.how
    recompute.finish(lease)
    drain(db, cache, settings, now + timedelta(minutes=1))
    assert_exact(db, [workspace], now + timedelta(minutes=1))


def test_a_lead_move_held_open_by_a_writer_while_both_workspaces_run_is_applied_after_it_commits(
    built: Built,
    triggers_database_url: str,
    cache: RedisStore,
    settings: RecomputeSettings,
) -> None:
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[3])  # a change row that exists
    writer = PostgresDatabase(triggers_database_url)
    try:
        writer.run("BEGIN")
        writer.run('UPDATE "Lead" SET "clientId" = :to WHERE id = :id', to=second.id, id=leads[3])
        now = T0 + timedelta(minutes=1)
        dirty_job(db, cache, settings, first.id, now)
        dirty_job(db, cache, settings, second.id, now)
        writer.run("COMMIT")
    finally:
        writer.close()
    later = T0 + timedelta(minutes=2)
    drain(db, cache, settings, later)
    assert_exact(db, [first, second], later)


# --- a lead changed twice in one transaction ------------------------------------------------------------------


def test_a_lead_moved_a_to_b_to_a_in_one_transaction_changes_neither_workspace(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    counts = (first.counts(), second.counts())
    with db.transaction():
        db.run('UPDATE "Lead" SET "clientId" = :to, status = \'blacklisted\' WHERE id = :id', to=second.id, id=leads[0])
        db.run('UPDATE "Lead" SET "clientId" = :to, status = \'new\' WHERE id = :id', to=first.id, id=leads[0])
    now = T0 + timedelta(minutes=1)
    assert set(drain(db, cache, settings, now)) == {Pass.INCREMENTAL}
    assert (first.counts(), second.counts()) == counts
    assert_exact(db, [first, second], now)


def test_a_lead_updated_twice_in_one_transaction_and_moved_to_b_counts_its_last_version(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    with db.transaction():
        db.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[1])
        db.run(
            'UPDATE "Lead" SET "clientId" = :to, "assignedToUserId" = \'setter-7\' WHERE id = :id',
            to=second.id,
            id=leads[1],
        )
    now = T0 + timedelta(minutes=1)
    drain(db, cache, settings, now)
    assert_exact(db, [first, second], now)
    assert second.counts()["setter-7"]["needsRepair"] == 1


def test_two_leads_of_two_workspaces_trading_ids_in_one_transaction_end_exact(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    """The lead trigger pairs before and after by id: after a trade, each id names the other workspace's lead (its
    drafts and messages follow it by cascade), so each workspace loses one id and gains the other."""
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    other = second.lead(status="blacklisted", sentimentTag="Positive", assignedToUserId="setter-9")
    first.draft(leads[0])
    first.message(leads[0], ai_draft_id=first.draft(leads[0], status="approved"))
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    counts = (first.counts(), second.counts())
    with db.transaction():  # the primary key is checked row by row: through a third id
        db.run('UPDATE "Lead" SET id = :to WHERE id = :id', to="trading", id=leads[0])
        db.run('UPDATE "Lead" SET id = :to WHERE id = :id', to=leads[0], id=other)
        db.run('UPDATE "Lead" SET id = :to WHERE id = :id', to=other, id="trading")
    now = T0 + timedelta(minutes=2)
    assert set(drain(db, cache, settings, now)) == {Pass.INCREMENTAL}
    assert_exact(db, [first, second], now)
    assert (first.counts(), second.counts()) == counts
    assert db.run('SELECT "clientId" AS id FROM "Lead" WHERE id = :id', id=other) == [{"id": first.id}]


def test_one_update_over_a_workspace_records_only_the_leads_it_changed_nulls_included(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run(
        'UPDATE "Lead" SET "sentimentTag" = CASE WHEN id = :a THEN NULL ELSE "sentimentTag" END, '
        '"lastInboundAt" = CASE WHEN id = :b THEN NULL ELSE "lastInboundAt" END, '
        '"assignedToUserId" = CASE WHEN id = :c THEN NULL ELSE "assignedToUserId" END, '
        '"lastMessageAt" = now(), "updatedAt" = now() WHERE "clientId" = :workspace',
        a=leads[0],
        b=leads[1],
        c=leads[2],
        workspace=workspace.id,
    )
    assert lead_changes(db) == sorted((workspace.id, lead) for lead in leads[:3])
    assert drain(db, cache, settings, T0 + timedelta(minutes=1)) == [Pass.INCREMENTAL]
    db.run(  # and back from NULL, with a lead that keeps its values
        'UPDATE "Lead" SET "sentimentTag" = \'Positive\', "lastInboundAt" = :at, "assignedToUserId" = \'setter-1\' '
        "WHERE id IN (:a, :b, :c, :d)",
        at=T0,
        a=leads[0],
        b=leads[1],
        c=leads[2],
        d=leads[3],
    )
    assert drain(db, cache, settings, T0 + timedelta(minutes=2)) == [Pass.INCREMENTAL]
    assert_exact(db, [workspace], T0 + timedelta(minutes=2))


# --- setters ----------------------------------------------------------------------------------------------------


def test_a_setter_emptied_and_refilled_in_one_job_keeps_its_row_exact(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    with db.transaction():
        db.run('UPDATE "Lead" SET "assignedToUserId" = \'setter-2\' WHERE "assignedToUserId" = \'setter-1\'')
        db.run('UPDATE "Lead" SET "assignedToUserId" = \' setter-1\' WHERE id = :id', id=leads[0])
    now = T0 + timedelta(minutes=1)
    assert drain(db, cache, settings, now) == [Pass.INCREMENTAL]
    assert_exact(db, [workspace], now)


def test_a_setter_whose_only_lead_is_snoozed_loses_its_row_and_gets_it_back_when_the_snooze_ends(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run(
        'UPDATE "Lead" SET "assignedToUserId" = \'solo\', "snoozedUntil" = :at WHERE id = :id',
        at=T0 + timedelta(hours=1),
        id=leads[0],
    )
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    assert "solo" not in workspace.counts()
    how, _ = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(hours=1))
    assert how is Pass.INCREMENTAL
    assert_exact(db, [workspace], T0 + timedelta(hours=1))
    assert workspace.counts()["solo"]["total"] == 1


# --- snoozes at the boundaries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(milliseconds=1), timedelta(milliseconds=-1)])
def test_a_snooze_ending_exactly_at_computed_at_or_now_is_counted_once(
    built: Built, cache: RedisStore, settings: RecomputeSettings, offset: timedelta
) -> None:
    db, workspace, leads = built
    first, second = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=first + offset, id=leads[0])  # == computedAt
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=second + offset, id=leads[1])  # == next now
    dirty_job(db, cache, settings, workspace.id, first)
    assert_exact(db, [workspace], first)
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[2])
    dirty_job(db, cache, settings, workspace.id, second)
    assert_exact(db, [workspace], second)
    drain(db, cache, settings, second + timedelta(minutes=1))
    dirty_job(db, cache, settings, workspace.id, second + timedelta(minutes=1))
    assert_exact(db, [workspace], second + timedelta(minutes=1))


def test_a_snooze_extended_by_a_writer_holding_it_while_the_old_snooze_ends(
    built: Built,
    triggers_database_url: str,
    cache: RedisStore,
    settings: RecomputeSettings,
) -> None:
    db, workspace, leads = built
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=T0 + timedelta(minutes=5), id=leads[0])
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
    writer = PostgresDatabase(triggers_database_url)
    try:
        writer.run("BEGIN")
        writer.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=T0 + timedelta(days=1), id=leads[0])
        db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[2])
        dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=10))  # the old snooze ended
        writer.run("COMMIT")
    finally:
        writer.close()
    later = T0 + timedelta(minutes=11)
    drain(db, cache, settings, later)
    dirty_job(db, cache, settings, workspace.id, later)
    assert_exact(db, [workspace], later)


def test_a_job_whose_now_is_before_computed_at_never_moves_it_back(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at WHERE id = :id', at=T0 + timedelta(minutes=3), id=leads[0])
    dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=5))
    before = stamp(db, workspace.id)
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[1])
    how, outcome = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))  # a clock behind
    assert how is Pass.INCREMENTAL and outcome is not None
    assert outcome.computed_at >= T0 + timedelta(minutes=5)
    assert stamp(db, workspace.id) >= before
    assert_exact(db, [workspace], T0 + timedelta(minutes=5))


# --- moves into a workspace whose state is not whole; deletes; renames --------------------------------------------


def test_a_lead_moved_to_a_workspace_never_computed_is_counted_there_by_a_full_pass(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, first, leads = built
    fresh = Workspace.create(db)
    db.run('UPDATE "Lead" SET "clientId" = :to WHERE id = :id', to=fresh.id, id=leads[0])
    now = T0 + timedelta(minutes=1)
    drain(db, cache, settings, now)
    assert_exact(db, [first, fresh], now)
    assert fresh.counts()["global"]["total"] == 1


def test_deleting_a_workspace_with_changes_pending_leaves_no_change_row(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])
    db.run('DELETE FROM "Client" WHERE id = :id', id=workspace.id)
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    assert lead_changes(db) == []
    assert db.run("SELECT count(*) AS n FROM recount_lead_state")[0]["n"] == 0


def test_renaming_a_workspace_id_cascades_as_the_app_schema_declares(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    """Every app foreign key to "Client" is ON UPDATE CASCADE (Prisma's default); recount's own tables must not
    turn the app's rename into an error."""
    db, workspace, _ = built
    renamed = new_id()
    db.run('UPDATE "Client" SET id = :to WHERE id = :id', to=renamed, id=workspace.id)
    now = T0 + timedelta(minutes=1)
    drain(db, cache, settings, now)
    assert_exact(db, [Workspace(db, renamed)], now)


# --- messages and drafts ---------------------------------------------------------------------------------------------


def test_an_ai_sent_message_moved_between_leads_of_two_workspaces_moves_ai_sent(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    target = second.lead(status="new")
    message = first.message(leads[0], ai_draft_id=first.draft(leads[0], status="approved"))
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    assert first.counts()["global"]["aiSent"] == 1
    db.run('UPDATE "Message" SET "leadId" = :lead WHERE id = :id', lead=target, id=message)
    now = T0 + timedelta(minutes=2)
    drain(db, cache, settings, now)
    assert_exact(db, [first, second], now)
    assert second.counts()["global"]["aiSent"] == 1 and first.counts()["global"]["aiSent"] == 0


@pytest.mark.parametrize("order", ["draft first", "move first", "one statement"])
def test_a_draft_deleted_in_the_transaction_that_moves_its_lead(
    built: Built, cache: RedisStore, settings: RecomputeSettings, order: str
) -> None:
    db, first, leads = built
    second = second_workspace(db, cache, settings)
    draft = first.draft(leads[0], status="approved")
    first.message(leads[0], ai_draft_id=draft)
    first.draft(leads[0])  # a review draft too
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    delete = 'DELETE FROM "AIDraft" WHERE "leadId" = :lead'
    move = 'UPDATE "Lead" SET "clientId" = :to WHERE id = :lead'
    if order == "one statement":
        db.run(f"WITH d AS ({delete} RETURNING 1) {move}", to=second.id, lead=leads[0])
    else:
        with db.transaction():
            for sql in [delete, move] if order == "draft first" else [move, delete]:
                db.run(sql, to=second.id, lead=leads[0]) if sql is move else db.run(sql, lead=leads[0])
    now = T0 + timedelta(minutes=2)
    drain(db, cache, settings, now)
    assert_exact(db, [first, second], now)


def test_truncating_message_alone_rebuilds_every_workspace(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    other = second_workspace(db, cache, settings)
    workspace.message(leads[0], ai_draft_id=workspace.draft(leads[0], status="approved"))
    drain(db, cache, settings, T0 + timedelta(minutes=1))
    db.run('TRUNCATE "Message"')
    now = T0 + timedelta(minutes=2)
    passes = drain(db, cache, settings, now)
    assert passes == [Pass.FULL_WITH_STATE, Pass.FULL_WITH_STATE]
    assert_exact(db, [workspace, other], now)
    assert workspace.counts()["global"]["aiSent"] == 0


# --- explicit recompute, idempotency, boundaries, the capture toggled -----------------------------------------------


def test_an_explicit_recompute_between_two_incremental_jobs_leaves_the_state_whole(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])
    Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0 + timedelta(minutes=1)).run(
        workspace.id, JobContext(new_id(), "test")
    )
    assert lead_changes(db) == []
    db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[1])
    assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=2))[0] is Pass.INCREMENTAL
    assert_exact(db, [workspace], T0 + timedelta(minutes=2))


@pytest.mark.parametrize("extra", [FEW_CHANGES - 1, FEW_CHANGES, FEW_CHANGES + 1])
def test_the_few_changes_boundary_ends_exact_either_way(
    built: Built, cache: RedisStore, settings: RecomputeSettings, extra: int
) -> None:
    db, workspace, _ = built
    for i in range(200):  # enough leads that the crossover keeps the incremental pass past FEW_CHANGES
        workspace.lead(status="new", assignedToUserId=f"setter-{i % 3}")
    workspace.mark_dirty()
    dirty_job(db, cache, settings, workspace.id, T0)
    db.run(
        "UPDATE \"Lead\" SET status = 'needs_repair', \"assignedToUserId\" = 'x' WHERE id IN "
        '(SELECT id FROM "Lead" WHERE "clientId" = :c ORDER BY id LIMIT :n)',
        c=workspace.id,
        n=extra,
    )
    how, _ = dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=1))
    assert how is Pass.INCREMENTAL
    assert_exact(db, [workspace], T0 + timedelta(minutes=1))


def test_the_capture_dropped_and_restored_with_changes_pending(
    built: Built,
    triggers_database_url: str,
    cache: RedisStore,
    settings: RecomputeSettings,
) -> None:
    db, workspace, leads = built
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])  # pending
    migrate(db, triggers=False)
    with db.transaction():  # the app marks while the capture is off
        db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[1])
        workspace.mark_dirty()
    assert drain(db, cache, settings, T0 + timedelta(minutes=1)) == [Pass.FULL]
    assert lead_changes(db) == []
    migrate(db, triggers=True)
    db.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[2])
    now = T0 + timedelta(minutes=2)
    assert drain(db, cache, settings, now) == [Pass.FULL_WITH_STATE]
    db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[3])
    assert drain(db, cache, settings, now + timedelta(minutes=1)) == [Pass.INCREMENTAL]
    assert_exact(db, [workspace], now + timedelta(minutes=1))


def test_the_capture_dropped_and_restored_with_no_job_between_does_not_trust_a_stale_state(
    built: Built, cache: RedisStore, settings: RecomputeSettings
) -> None:
    """While the capture was off the app marked its write, and no job ran before the triggers came back: the
    state still says it is whole, but the mark sends the next job down the full pass."""
    db, workspace, leads = built
    migrate(db, triggers=False)
    db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[1])
    workspace.mark_dirty()  # the app marks, as it must with the capture off; no job runs before the triggers return
    migrate(db, triggers=True)
    db.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id = :id", id=leads[2])
    now = T0 + timedelta(minutes=1)
    drain(db, cache, settings, now)
    assert_exact(db, [workspace], now)


# --- the transaction's generic plans: a migration under a warm session, a transaction pooler ------------------------

# The app's migrations between two dirty jobs on one warm session: a result type the lock query returns changes
# (its statements are prepared anew, the transaction begun again with its generic plans), a type a generic plan of
# apply_changes compares with changes, a column appears.
WARM_MIGRATIONS = {
    "stamps to timestamptz": [
        'ALTER TABLE "InboxCounts" ALTER COLUMN "computedAt" SET DATA TYPE TIMESTAMPTZ(3)',
        'ALTER TABLE "InboxCounts" ALTER COLUMN "updatedAt" SET DATA TYPE TIMESTAMPTZ(3)',
    ],
    "lead status to an enum": [
        "CREATE TYPE \"LeadStatus\" AS ENUM ('new', 'qualified', 'blacklisted', 'unqualified', 'needs_repair')",
        'ALTER TABLE "Lead" ALTER COLUMN status DROP DEFAULT',
        'ALTER TABLE "Lead" ALTER COLUMN status SET DATA TYPE "LeadStatus" USING status::"LeadStatus"',
    ],
    "a column added": ['ALTER TABLE "Lead" ADD COLUMN "note" text', 'ALTER TABLE "InboxCounts" ADD COLUMN "note" text'],
}


@pytest.mark.parametrize("migration", list(WARM_MIGRATIONS))
def test_a_migration_between_two_dirty_jobs_on_a_warm_session_leaves_the_next_exact_on_its_first_attempt(
    built: Built, triggers_database_url: str, cache: RedisStore, settings: RecomputeSettings, migration: str
) -> None:
    db, workspace, leads = built
    workspace.draft(leads[0])
    for minute in range(1, 4):  # the session's statements prepared, their generic plans kept
        db.run('UPDATE "Lead" SET "sentimentTag" = :tag WHERE id = :id', tag=f"tag-{minute}", id=leads[1])
        assert dirty_job(db, cache, settings, workspace.id, T0 + timedelta(minutes=minute))[0] is Pass.INCREMENTAL
    apply(triggers_database_url, WARM_MIGRATIONS[migration])
    db.run("UPDATE \"Lead\" SET status = 'blacklisted' WHERE id = :id", id=leads[2])
    workspace.draft(leads[3])
    now = T0 + timedelta(minutes=10)
    assert dirty_job(db, cache, settings, workspace.id, now)[0] is Pass.INCREMENTAL
    assert_exact(db, [workspace], now)
    workspace.mark_dirty()  # and a full pass on the same session
    assert dirty_job(db, cache, settings, workspace.id, now + timedelta(minutes=1))[0] is Pass.FULL_WITH_STATE
    assert_exact(db, [workspace], now + timedelta(minutes=1))


REVIEW_INDEX, SENT_INDEX = "AIDraft_recount_review_leadId_idx", "Message_recount_aiSent_leadId_idx"
# States of recount's indexes a full pass chooses its paths by: dropped, left INVALID by a CREATE INDEX
# CONCURRENTLY that failed, never analyzed (reltuples -1), small next to the workspace, big next to it.
INDEX_STATES = {
    "as migrated": [],
    "review dropped": [f'DROP INDEX "{REVIEW_INDEX}"'],
    "review invalid": [f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('\"{REVIEW_INDEX}\"')"],
    "never analyzed": [f"UPDATE pg_class SET reltuples = -1 WHERE relname IN ('{REVIEW_INDEX}', '{SENT_INDEX}')"],
    "small indexes": [f"UPDATE pg_class SET reltuples = 100 WHERE relname IN ('{REVIEW_INDEX}', '{SENT_INDEX}')"],
    "big indexes": [f"UPDATE pg_class SET reltuples = 1e6 WHERE relname IN ('{REVIEW_INDEX}', '{SENT_INDEX}')"],
}


@pytest.mark.parametrize("state", list(INDEX_STATES))
def test_a_dirty_jobs_full_pass_chooses_the_paths_an_explicit_recompute_chooses(
    built: Built, cache: RedisStore, settings: RecomputeSettings, state: str
) -> None:
    """A dirty job's lock query runs with generic plans and reads the index sizes only for a full pass: the full
    pass it chooses must be planned as an explicit recompute's, for a marked workspace, an empty one, one with no
    state, and one that does not exist."""
    db, workspace, _ = built
    workspace.mark_dirty()
    empty, stateless = Workspace.create(db), Workspace.create(db)
    stateless.lead(status="new")
    for statement in INDEX_STATES[state]:
        db.run(statement)
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0 + timedelta(minutes=1))
    chosen: dict[tuple[str, bool], list[tuple[dict[str, bool], str, str]]] = {}
    for client_id in (workspace.id, empty.id, stateless.id, new_id()):
        for dirty in (True, False, True, True, True, True, True):  # past five runs: the generic plan kept
            lease = recompute.begin(client_id, JobContext(new_id(), "test"), incremental=dirty)
            try:
                settings_now = db.run(
                    "SELECT current_setting('enable_nestloop') AS n, current_setting('plan_cache_mode') AS p"
                )
                chosen.setdefault((client_id, dirty), []).append(
                    (lease.paths, settings_now[0]["n"], settings_now[0]["p"])
                )
            finally:
                recompute.abandon(lease)
    for (client_id, dirty), seen in chosen.items():
        if dirty:
            assert set(map(repr, seen)) == {repr(chosen[(client_id, False)][0])}, client_id


def test_dirty_jobs_through_a_transaction_pooler_end_exact_and_leave_no_setting_on_the_server_connection(
    built: Built, triggers_database_url: str, cache: RedisStore, settings: RecomputeSettings, tmp_path: Path
) -> None:
    db, workspace, leads = built
    with transaction_pooler(tmp_path / "pgbouncer") as port:
        url = triggers_database_url.replace(":5432/", f":{port}/")
        job = PostgresDatabase(url + "?pgbouncer=true")
        # A client that sets nothing, outside a transaction: it sees the server connection's session as it is
        kwargs = connection_kwargs(url)
        kwargs.pop("ssl_context")
        bare = pg8000.native.Connection(**kwargs)
        try:
            passes, job_pids, seen = [], set(), []
            for minute in range(1, 5):
                db.run('UPDATE "Lead" SET "sentimentTag" = :tag WHERE id = :id', tag=f"tag-{minute}", id=leads[1])
                if minute == 3:
                    workspace.mark_dirty()
                passes.append(dirty_job(job, cache, settings, workspace.id, T0 + timedelta(minutes=minute))[0])
                assert_exact(db, [workspace], T0 + timedelta(minutes=minute))
                job_pids.add(job.run("SELECT pg_backend_pid() AS pid")[0]["pid"])
                seen.extend(
                    bare.run(
                        "SELECT pg_backend_pid(), array_agg(name ORDER BY name) FILTER (WHERE setting <> reset_val) "
                        "FROM pg_settings WHERE name IN ('plan_cache_mode', 'enable_nestloop', 'statement_timeout', "
                        "'lock_timeout', 'jit', 'TimeZone')"
                    )
                )
        finally:
            job.close()
            bare.close()
    assert passes == [Pass.INCREMENTAL, Pass.INCREMENTAL, Pass.FULL_WITH_STATE, Pass.INCREMENTAL]
    assert {pid for pid, *_ in seen} <= job_pids, "the server connection the jobs ran on"
    assert [changed for _, changed in seen] == [None] * 4, "no setting of a job's outlived its transaction"
