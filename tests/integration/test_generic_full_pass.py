"""A full pass over a tiny workspace that probes both ways runs one generic plan, kept once prepared (the lock
query's `generic`, docs/design.md §7): the counts stay exact whichever workspace the plan was made for, a larger
workspace is still planned for its own size, and the leads are read through the workspace's index even where an
average workspace is most of the table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pg8000.native
import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.passes import GENERIC_PLAN_LEADS, Pass, lock_parameters
from shared.domain.recompute import LOCK_CLASS, Recompute
from shared.queries import query
from tests.builders import Workspace, new_id
from tests.integration.test_dirty_triggers import (  # noqa: F401 (fixtures)
    triggers_database_url,
    triggers_db,
)
from tests.integration.test_incremental_counts import expected

T0 = datetime(2026, 6, 1, 12, 0, 0)
INDEXES = ("AIDraft_recount_review_leadId_idx", "Message_recount_aiSent_leadId_idx")


@pytest.fixture(params=["capture off", "capture on"])
def store(request: pytest.FixtureRequest) -> PostgresDatabase:
    """The session's database (the full pass) or one with the capture (the full pass that keeps the state)."""
    name = "db" if request.param == "capture off" else "triggers_db"
    database: PostgresDatabase = request.getfixturevalue(name)
    return database


@pytest.fixture
def big_indexes(store: PostgresDatabase) -> Iterator[PostgresDatabase]:
    """recount's partial indexes as big as a busy database's, next to which every small workspace probes."""
    names = ", ".join(f"'{name}'" for name in INDEXES)
    saved = store.run(f"SELECT relname, reltuples FROM pg_class WHERE relname IN ({names})")
    store.run(f"UPDATE pg_class SET reltuples = 1e6 WHERE relname IN ({names})")
    yield store
    for row in saved:
        store.run("UPDATE pg_class SET reltuples = :n WHERE relname = :name", n=row["reltuples"], name=row["relname"])


def workspace_of(db: PostgresDatabase, leads: int, seed: int) -> Workspace:
    """`leads` leads over three setters, with review drafts, AI-sent emails, snoozes and statuses mixed."""
    workspace = Workspace.create(db)
    for i in range(leads):
        k = i + seed
        lead = workspace.lead(
            status=("new", "blacklisted", "needs_repair", "unqualified")[k % 4],
            sentimentTag=("Interested", None, "Positive")[k % 3],
            lastInboundAt=T0 - timedelta(hours=k % 7),
            lastOutboundAt=T0 - timedelta(hours=k % 5),
            assignedToUserId=(f"setter-{k % 3}" if k % 4 else None),
            snoozedUntil=(T0 + timedelta(days=1) if k % 9 == 0 else None),
        )
        draft = workspace.draft(lead, status=("pending", "sent")[k % 2]) if k % 3 == 0 else None
        if k % 5 == 0:
            workspace.message(lead, direction="outbound", sent_by="ai", ai_draft_id=draft or workspace.draft(lead))
    workspace.mark_dirty()
    return workspace


def plan_settings(db: PostgresDatabase) -> tuple[str, str]:
    row = db.run("SELECT current_setting('plan_cache_mode') AS cache, current_setting('enable_seqscan') AS seq")[0]
    return str(row["cache"]), str(row["seq"])


@pytest.mark.parametrize("dirty", [True, False], ids=["dirty job", "explicit recompute"])
def test_a_tiny_probed_workspace_plans_generically_and_one_past_the_limit_for_its_own_size(
    big_indexes: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, dirty: bool
) -> None:
    # Given a workspace of GENERIC_PLAN_LEADS leads and one of a lead more, both marked, both probed
    db = big_indexes
    tiny, small = workspace_of(db, GENERIC_PLAN_LEADS, 0), workspace_of(db, GENERIC_PLAN_LEADS + 1, 0)
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0)

    # When each takes the lease for its full pass
    seen = {}
    for workspace in (tiny, small):
        lease = recompute.begin(workspace.id, JobContext(new_id(), "test"), incremental=dirty)
        try:
            assert lease.how in (Pass.FULL, Pass.FULL_WITH_STATE)
            assert lease.paths == {"probe_review": True, "probe_sent": True}
            seen[workspace.id] = plan_settings(db)
        finally:
            recompute.abandon(lease)

    # Then the tiny one runs the generic plan with seq scans off, the other its own plan with the session's settings
    assert seen[tiny.id] == ("force_generic_plan", "off")
    assert seen[small.id] == ("force_custom_plan", "on")
    assert plan_settings(db) == ("force_custom_plan", "on")  # nothing outlives the transaction


def test_full_passes_on_one_generic_plan_are_exact_for_every_workspace_it_serves(
    big_indexes: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    # Given tiny workspaces of every shape, and one too big for the generic plan between them
    db = big_indexes
    tiny = [workspace_of(db, leads, seed) for seed, leads in enumerate((0, 1, 3, 7, 20, 41, GENERIC_PLAN_LEADS - 1))]
    bigger = workspace_of(db, GENERIC_PLAN_LEADS + 30, 5)
    recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0)

    # When each is recomputed in turn, twice over (past the five runs after which a plan could be kept anyway),
    # marked again each time with a lead changed
    for round_ in range(2):
        for workspace in (*tiny[:4], bigger, *tiny[4:]):
            if round_:
                workspace.lead(status="new", sentimentTag="Positive", lastInboundAt=T0, assignedToUserId="setter-9")
                workspace.mark_dirty()
            recompute.run(workspace.id, JobContext(new_id(), "test"))

            # Then its counts are the oracle's, however the plan it ran was made
            assert workspace.counts() == expected(db, workspace.id, T0), (round_, workspace.id)

    # And the tiny ones ran the generic plan (made once, then kept), the bigger one a plan of its own each time
    plans = db.run(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%review_probed%'"
    )
    assert sum(row["generic_plans"] for row in plans) == 2 * len(tiny)
    assert sum(row["custom_plans"] for row in plans) == 2


def test_the_generic_plan_reads_the_leads_through_the_workspace_index_where_an_average_workspace_is_most_of_the_table(
    big_indexes: PostgresDatabase,
) -> None:
    db = big_indexes
    # Given statistics that say the table holds one workspace: a generic plan expects every lead in any of them
    big, other = Workspace.create(db), Workspace.create(db)
    db.run(  # two workspaces' leads in no order: reading them by index is dearer than reading the table
        'INSERT INTO "Lead" (id, "clientId", status, "updatedAt") '
        "SELECT gen_random_uuid()::text, CASE WHEN random() < 0.5 THEN :big ELSE :other END, 'new', now() "
        "FROM generate_series(1, 10000)",
        big=big.id,
        other=other.id,
    )
    tiny = workspace_of(db, 5, 0)
    db.run('ALTER TABLE "Lead" ALTER COLUMN "clientId" SET (n_distinct = 1)')
    try:
        db.run('ANALYZE "Lead"')
        statement, make_values = pg8000.native.to_statement(query("inbox_counts", "recompute"))
        values = make_values({"client_id": tiny.id, "now": T0, "probe_review": True, "probe_sent": True})
        literals = ", ".join(pg8000.native.literal(value) for value in values)

        # When the full pass's statement is planned after the lock query, which chose probes and a generic plan
        def plan(*after_lock: str) -> str:
            db.run("BEGIN")
            db.run(f"PREPARE full_pass AS {statement}")
            try:
                row = db.run(
                    query("inbox_counts", "lock_and_read_marker"),
                    lock_class=LOCK_CLASS[JobName.INBOX_COUNTS],
                    **lock_parameters(tiny.id),
                )[0]
                assert (row["probe_review"], row["probe_sent"]) == (True, True)
                for setting in after_lock:
                    db.run(setting)
                return "\n".join(str(row["QUERY PLAN"]) for row in db.run(f"EXPLAIN EXECUTE full_pass({literals})"))
            finally:
                db.run("ROLLBACK")
                db.run("DEALLOCATE full_pass")

        # Then the generic plan expects thousands of leads in this 5-lead workspace, and still reads them through
        # the index: with seq scans off, as the lock query leaves them, a read of the whole table is never chosen
        generic = plan()
        scan = next(line for line in generic.split("\n") if ' on "Lead" l ' in line)
        assert int(re.search(r"rows=(\d+)", scan).group(1)) >= 5_000, scan  # type: ignore[union-attr]
        assert "Seq Scan" not in scan and "Lead_clientId" in generic and "$1" in generic
    finally:
        db.run('ALTER TABLE "Lead" ALTER COLUMN "clientId" RESET (n_distinct)')
        db.run('ANALYZE "Lead"')


@pytest.mark.parametrize("reltuples", [-1, 0, 1e6], ids=["never analyzed: probes", "empty: hashes", "big: probes"])
def test_per_assignee_counting_merges_every_padded_form_of_a_setter_exactly_on_every_path(
    store: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, reltuples: float
) -> None:
    # Given one setter spelled five ways, blanks that trim to nothing, NULLs and snoozes, with every flag mixed
    db = store
    names = ", ".join(f"'{name}'" for name in INDEXES)
    saved = db.run(f"SELECT relname, reltuples FROM pg_class WHERE relname IN ({names})")
    db.run(f"UPDATE pg_class SET reltuples = :n WHERE relname IN ({names})", n=reltuples)
    try:
        forms = ("a", " a", "a ", "\u00a0a", "\ufeffa\u3000", "", " ", "\u00a0", None, "b", "\u200ba")
        workspace = Workspace.create(db)
        for k in range(3 * len(forms)):
            lead = workspace.lead(
                status=("new", "blacklisted", "needs_repair", "unqualified")[k % 4],
                sentimentTag=("Interested", None, "Positive")[k % 3],
                lastInboundAt=T0 - timedelta(hours=k % 7) if k % 5 else None,
                lastOutboundAt=T0 - timedelta(hours=k % 5),
                assignedToUserId=forms[k % len(forms)],
                snoozedUntil=(T0 + timedelta(days=1) if k % 7 == 0 else None),
            )
            draft = workspace.draft(lead, status=("pending", "sent")[k % 2]) if k % 3 == 0 else None
            if k % 4 == 1:
                workspace.message(lead, direction="outbound", sent_by="ai", ai_draft_id=draft or workspace.draft(lead))
        workspace.mark_dirty()
        empty = Workspace.create(db)
        empty.mark_dirty()

        # When each is recomputed by its full pass, twice (the generic plan made, then kept)
        recompute = Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=T0)
        for _ in range(2):
            for each in (workspace, empty):
                recompute.run(each.id, JobContext(new_id(), "test"))

                # Then every column of every row is the oracle's: 'a' once, the blanks in the global row only
                assert each.counts() == expected(db, each.id, T0)
        assert set(workspace.counts()) == {"global", "a", "b", "\u200ba"}
        assert empty.counts()["global"]["total"] == 0
    finally:
        for row in saved:
            db.run("UPDATE pg_class SET reltuples = :n WHERE relname = :name", n=row["reltuples"], name=row["relname"])
