"""The optional triggers (sql/004_dirty_triggers.sql): with them, writes in plain SQL, with no mark from the app,
record the leads they changed, and leave the counts and the lead state exact once recount has run on what the
database recorded (incrementally where it can); a write no count can see records nothing."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, InboxCountsDirty, new_event
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.jobs import plan_inbox_counts
from shared.domain.passes import STATE_RULES, Pass
from shared.domain.recompute import Recompute
from shared.queries import query
from tests import oracle
from tests.builders import Workspace, new_id
from tests.conftest import ADMIN_DATABASE_URL
from tests.integration.test_cli import recount

STATUSES = ("new", "qualified", "needs_repair", "blacklisted", "unqualified")
TAGS = ("Interested", "Positive", "Not Interested", "Meeting Booked", None)
SETTERS = ("setter-1", "setter-2", " setter-2 ", "", None)


@pytest.fixture
def triggers_database_url() -> Iterator[str]:
    """A database of its own, migrated with the triggers (the session's shared database has none)."""
    name = f"recount_triggers_{uuid.uuid4().hex[:10]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/{name}"
    db = PostgresDatabase(url)
    migrate(db, triggers=True)
    db.close()
    yield url
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def triggers_db(triggers_database_url: str) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(triggers_database_url)
    yield db
    db.close()


def marks(db: PostgresDatabase) -> list[str]:
    return [row["clientId"] for row in db.run('SELECT "clientId" FROM "InboxCountsDirty" ORDER BY 1')]


def due(db: PostgresDatabase) -> list[str]:
    """The workspaces the sweep would send a dirty event for: marked, or with lead changes recorded."""
    rows = db.run('SELECT "clientId" AS id FROM "InboxCountsDirty" UNION SELECT client_id FROM recount_lead_change')
    return sorted(row["id"] for row in rows)


def lead_changes(db: PostgresDatabase) -> list[tuple[str, str]]:
    return [(row["client_id"], row["lead_id"]) for row in db.run("SELECT * FROM recount_lead_change ORDER BY 1, 2")]


def run_recount(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings) -> list[Pass]:
    """What the pipeline does with the marks and the lead changes (events or the sweep): one dirty job per
    workspace that has either, planned as the inbox function plans it; returns the passes it took."""
    passes = []
    for client_id in due(db):
        recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings)
        lease = recompute.begin(client_id, JobContext(new_id(), "test"), incremental=True)
        event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="test")
        assert isinstance(event, InboxCountsDirty)
        plan = plan_inbox_counts(event, lease)
        if plan.key is None:
            recompute.skip(lease, plan.reason)
            continue
        lease.how = plan.how
        recompute.finish(lease)
        passes.append(plan.how)
    return passes


def expected(db: PostgresDatabase, client_id: str) -> dict[str, dict[str, int]]:
    leads = db.run('SELECT * FROM "Lead" WHERE "clientId" = :id', id=client_id)
    ids = [lead["id"] for lead in leads]
    drafts = db.run('SELECT * FROM "AIDraft" WHERE "leadId" = ANY(CAST(:ids AS text[]))', ids=ids)
    messages = db.run('SELECT * FROM "Message" WHERE "leadId" = ANY(CAST(:ids AS text[]))', ids=ids)
    return oracle.inbox_counts(leads, drafts, messages, datetime.now(UTC).replace(tzinfo=None))


class App:
    """Writes as some app path would, in plain SQL and never marking."""

    def __init__(self, db: PostgresDatabase, rng: random.Random, workspaces: list[Workspace]) -> None:
        self.db, self.rng, self.workspaces = db, rng, workspaces

    def lead_ids(self) -> list[str]:
        return [row["id"] for row in self.db.run('SELECT id FROM "Lead" ORDER BY id')]

    def some_lead(self) -> str | None:
        ids = self.lead_ids()
        return self.rng.choice(ids) if ids else None

    def step(self) -> str:
        rng, lead = self.rng, self.some_lead()
        far = datetime(2030, 1, 1) if rng.random() < 0.5 else None
        when = datetime(2026, 1, 1) + timedelta(hours=rng.randint(0, 2000))
        operations: list[tuple[str, str, dict[str, Any]]] = [
            (
                "insert lead",
                'INSERT INTO "Lead" (id, "clientId", status, "sentimentTag", "lastInboundAt", '
                '"assignedToUserId", "updatedAt") VALUES (:id, :client, :status, :tag, :at, :setter, now())',
                {
                    "id": new_id(),
                    "client": rng.choice(self.workspaces).id,
                    "status": rng.choice(STATUSES),
                    "tag": rng.choice(TAGS),
                    "at": when,
                    "setter": rng.choice(SETTERS),
                },
            ),
        ]
        if lead is not None:
            operations += [
                ("status", 'UPDATE "Lead" SET status = :v WHERE id = :id', {"v": rng.choice(STATUSES), "id": lead}),
                ("tag", 'UPDATE "Lead" SET "sentimentTag" = :v WHERE id = :id', {"v": rng.choice(TAGS), "id": lead}),
                ("inbound", 'UPDATE "Lead" SET "lastInboundAt" = :v WHERE id = :id', {"v": when, "id": lead}),
                ("outbound", 'UPDATE "Lead" SET "lastZrgOutboundAt" = :v WHERE id = :id', {"v": when, "id": lead}),
                (
                    "setter",
                    'UPDATE "Lead" SET "assignedToUserId" = :v WHERE id = :id',
                    {"v": rng.choice(SETTERS), "id": lead},
                ),
                ("snooze", 'UPDATE "Lead" SET "snoozedUntil" = :v WHERE id = :id', {"v": far, "id": lead}),
                (
                    "move",
                    'UPDATE "Lead" SET "clientId" = :v WHERE id = :id',
                    {"v": rng.choice(self.workspaces).id, "id": lead},
                ),
                ("touch", 'UPDATE "Lead" SET "updatedAt" = now() WHERE id = :id', {"id": lead}),
                ("delete lead", 'DELETE FROM "Lead" WHERE id = :id', {"id": lead}),
                (
                    "draft",
                    'INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", '
                    "\"updatedAt\") VALUES (:id, :lead, 'd', 'email', 'pending', :action, now())",
                    {"id": new_id(), "lead": lead, "action": rng.choice(("needs_review", "skip"))},
                ),
                (
                    "settle draft",
                    'UPDATE "AIDraft" SET status = :v WHERE "leadId" = :lead',
                    {"v": rng.choice(("approved", "rejected", "pending")), "lead": lead},
                ),
                ("delete draft", 'DELETE FROM "AIDraft" WHERE "leadId" = :lead', {"lead": lead}),
                (
                    "ai email",
                    'INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", '
                    "\"aiDraftId\") SELECT :id, :lead, 'email', 'zrg', 'hi', 'outbound', 'ai', d.id FROM \"AIDraft\" d "
                    'WHERE d."leadId" = :lead LIMIT 1',
                    {"id": new_id(), "lead": lead},
                ),
                (
                    "setter sms",
                    'INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy") '
                    "VALUES (:id, :lead, 'sms', 'zrg', 'hi', 'outbound', 'setter')",
                    {"id": new_id(), "lead": lead},
                ),
                ("delete messages", 'DELETE FROM "Message" WHERE "leadId" = :lead', {"lead": lead}),
                (
                    "batch",
                    'UPDATE "Lead" SET status = :v WHERE "clientId" = :client',
                    {"v": rng.choice(STATUSES), "client": rng.choice(self.workspaces).id},
                ),
            ]
        name, statement, params = rng.choice(operations)
        self.db.run(statement, **params)
        return name


def state_differences(db: PostgresDatabase, client_id: str) -> int:
    row = db.run(query("inbox_counts", "state_differences"), client_id=client_id, rules=STATE_RULES)[0]
    return int(row["differing"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_plain_sql_writes_and_no_app_marks_then_the_counts_end_exact_with_nothing_left(
    triggers_db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, seed: int
) -> None:
    db, rng = triggers_db, random.Random(seed)
    workspaces = [Workspace.create(db) for _ in range(3)]
    for workspace in workspaces:  # computed once, as a backfill does: each has its global row from here on
        workspace.mark_dirty()
    assert set(run_recount(db, cache, settings)) == {Pass.FULL_WITH_STATE}
    app = App(db, rng, workspaces)
    passes: list[Pass] = []
    for step in range(150):
        app.step()
        if rng.random() < 0.25 or step == 149:
            passes += run_recount(db, cache, settings)
            for workspace in workspaces:
                assert workspace.counts() == expected(db, workspace.id), (seed, step, workspace.id)
                assert state_differences(db, workspace.id) == 0, (seed, step, workspace.id)
    assert marks(db) == [] and lead_changes(db) == []
    assert Pass.INCREMENTAL in passes


def test_a_write_no_count_can_see_records_nothing(triggers_db: PostgresDatabase) -> None:
    workspace = Workspace.create(triggers_db)
    lead = workspace.lead(status="new")
    message = workspace.message(lead, direction="inbound", channel="sms", sent_by=None)
    triggers_db.run('DELETE FROM "InboxCountsDirty"')
    triggers_db.run("DELETE FROM recount_lead_change")

    triggers_db.run('UPDATE "Lead" SET "updatedAt" = now() WHERE id = :id', id=lead)
    triggers_db.run("UPDATE \"Message\" SET body = 'edited' WHERE id = :id", id=message)
    workspace.draft(lead, auto_send_action="skip")  # not one needing review
    assert lead_changes(triggers_db) == []

    triggers_db.run('UPDATE "Lead" SET "lastInboundAt" = now() WHERE id = :id', id=lead)
    assert lead_changes(triggers_db) == [(workspace.id, lead)] and marks(triggers_db) == []


def test_one_statement_over_many_workspaces_records_each_lead_once_and_a_deleted_workspace_none(
    triggers_db: PostgresDatabase,
) -> None:
    workspaces = [Workspace.create(triggers_db) for _ in range(3)]
    leads = {workspace.id: [workspace.lead(status="new") for _ in range(4)] for workspace in workspaces}
    triggers_db.run('DELETE FROM "InboxCountsDirty"')
    triggers_db.run("DELETE FROM recount_lead_change")

    triggers_db.run('DELETE FROM "Client" WHERE id = :id', id=workspaces[0].id)  # its leads go by cascade
    triggers_db.run("UPDATE \"Lead\" SET status = 'qualified'")

    assert lead_changes(triggers_db) == sorted((w.id, lead) for w in workspaces[1:] for lead in leads[w.id])
    assert marks(triggers_db) == []


def test_a_lead_that_moves_is_recorded_in_both_workspaces(triggers_db: PostgresDatabase) -> None:
    first, second = Workspace.create(triggers_db), Workspace.create(triggers_db)
    lead = first.lead(status="new")
    triggers_db.run("DELETE FROM recount_lead_change")

    triggers_db.run('UPDATE "Lead" SET "clientId" = :to WHERE id = :id', to=second.id, id=lead)

    assert lead_changes(triggers_db) == sorted([(first.id, lead), (second.id, lead)])


def test_a_lead_whose_id_changes_is_recorded_under_both_ids_and_a_large_update_after_a_small_one_records_all(
    triggers_db: PostgresDatabase,
) -> None:
    # Given a workspace of 1,200 leads, and a session whose trigger plans were first made for a one-row update
    workspace = Workspace.create(triggers_db)
    leads = [workspace.lead(status="new") for _ in range(3)]
    triggers_db.run(
        'INSERT INTO "Lead" (id, "clientId", status, "updatedAt") '
        "SELECT 'bulk-' || g, :client_id, 'new', now() FROM generate_series(1, 1200) g",
        client_id=workspace.id,
    )
    triggers_db.run("DELETE FROM recount_lead_change")
    triggers_db.run("UPDATE \"Lead\" SET status = 'qualified' WHERE id = :id", id=leads[0])
    triggers_db.run("DELETE FROM recount_lead_change")

    # When one statement renames a lead's id, and another updates 1,200 leads at once
    triggers_db.run("UPDATE \"Lead\" SET id = 'renamed' WHERE id = :id", id=leads[1])
    renamed = lead_changes(triggers_db)
    triggers_db.run("DELETE FROM recount_lead_change")
    triggers_db.run("UPDATE \"Lead\" SET status = 'needs_repair' WHERE id LIKE 'bulk-%'")

    # Then the old id and the new one are both recorded (the old one's contribution leaves, the new one's joins),
    # and every lead of the large update is
    assert renamed == sorted([(workspace.id, leads[1]), (workspace.id, "renamed")])
    assert len(lead_changes(triggers_db)) == 1200


def test_migrate_with_and_drop_triggers_from_the_cli(database_url: str, redis_url: str) -> None:
    name = f"recount_triggers_cli_{uuid.uuid4().hex[:8]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/{name}"
    db = PostgresDatabase(url)
    try:
        created = recount("migrate", "--with-triggers", database_url=url, redis_url=redis_url)
        installed = db.run("SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'recount_%'")[0]["n"]
        again = recount("migrate", "--with-triggers", database_url=url, redis_url=redis_url)
        dropped = recount("migrate", "--drop-triggers", database_url=url, redis_url=redis_url)
        left = db.run("SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'recount_%'")[0]["n"]
        both = recount("migrate", "--with-triggers", "--drop-triggers", database_url=url, redis_url=redis_url)
    finally:
        db.close()
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    assert created.returncode == 0 and "applied 004_dirty_triggers.sql" in created.stdout, created.stderr
    assert installed == 12 and again.returncode == 0  # applying twice changes nothing
    assert dropped.returncode == 0 and "applied 004_dirty_triggers.drop.sql" in dropped.stdout and left == 0
    assert both.returncode == 2 and "choose one of --with-triggers and --drop-triggers" in both.stderr


def test_a_truncate_marks_every_workspace_and_an_id_out_of_the_rule_is_never_marked(
    triggers_db: PostgresDatabase,
) -> None:
    workspaces = [Workspace.create(triggers_db) for _ in range(2)]
    odd = Workspace.create(triggers_db, client_id="legacy id; with spaces")
    for workspace in (*workspaces, odd):
        workspace.message(workspace.lead(status="new"), ai_draft_id=None)
    triggers_db.run('DELETE FROM "InboxCountsDirty"')

    triggers_db.run('TRUNCATE "Message"')

    assert marks(triggers_db) == sorted(w.id for w in workspaces)


def test_the_triggers_find_their_tables_whatever_the_writing_sessions_search_path(
    triggers_db: PostgresDatabase,
) -> None:
    workspace = Workspace.create(triggers_db)
    lead = workspace.lead(status="new")
    triggers_db.run("DELETE FROM recount_lead_change")

    with triggers_db.transaction():
        triggers_db.run("SET LOCAL search_path TO pg_catalog")
        triggers_db.run("UPDATE public.\"Lead\" SET status = 'qualified' WHERE id = :id", id=lead)

    assert lead_changes(triggers_db) == [(workspace.id, lead)]
