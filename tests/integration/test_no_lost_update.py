"""docs/design.md §6.1-6.3 made deterministic with two real connections: no lost update, no double apply, no stale
overwrite.

The recompute runs READ COMMITTED: begin() only takes the lock; the snapshot that reads the marker and the
counts is the one of finish()'s single statement. A mark committed between begin() and finish() therefore
lands *before* that snapshot (the computation sees it and its data, and may clear it). To land a mark
*after* the snapshot, these tests block finish()'s statement on a row lock held by other_db, run it in a
thread, and commit other_db's mark while the statement waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import BusyError, TransientError
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Lease, Recompute, RecomputeOutcome
from tests.builders import Workspace
from tests.oracle import zero_counts

NOW = datetime(2026, 3, 1, 12, 0, 0)
T = datetime(2026, 3, 1, 11, 59, 59, 123000)  # a dirtyAt with millisecond precision


def job(db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings) -> Recompute:
    return Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=NOW)


def ctx(request_id: str = "req-1") -> JobContext:
    return JobContext(request_id, "test")


def totals(ws: Workspace) -> int:
    return ws.counts()["global"]["total"]


def marker(db: PostgresDatabase, ws: Workspace) -> dict[str, Any] | None:
    rows = db.run(
        'SELECT xmin::text AS generation, "dirtyAt" AS dirty_at FROM "InboxCountsDirty" WHERE "clientId" = :id',
        id=ws.id,
    )
    return rows[0] if rows else None


def marked(db: PostgresDatabase, ws: Workspace) -> dict[str, Any]:
    """The marker row where the test has just written one."""
    row = marker(db, ws)
    assert row is not None
    return row


def finish_while_blocked(
    rc: Recompute, lease: Lease, db: PostgresDatabase, other_db: PostgresDatabase, while_blocked: Callable[[], None]
) -> RecomputeOutcome:
    """Run finish() in a thread until its statement waits on other_db's row lock, act, then commit other_db."""
    pid = db.run("SELECT pg_backend_pid() AS pid")[0]["pid"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        future: Future[RecomputeOutcome] = pool.submit(rc.finish, lease)
        deadline = time.monotonic() + 1.5  # below the 2 s lock_timeout of the recompute's connection
        while not other_db.run("SELECT count(*) AS n FROM pg_locks WHERE pid = :pid AND NOT granted", pid=pid)[0]["n"]:
            assert not future.done(), "finish() did not block on the row lock"
            assert time.monotonic() < deadline, "finish() never waited on the row lock"
            time.sleep(0.005)
        while_blocked()
        other_db.run("COMMIT")
        return future.result(timeout=10)


def test_a_mark_committed_between_begin_and_finish_is_seen_by_the_snapshot(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
) -> None:
    # Given a workspace with one lead, marked dirty, and a recompute that has begun
    workspace.lead()
    workspace.mark_dirty()
    rc = job(db, cache, settings)
    lease = rc.begin(workspace.id, ctx())
    # When another connection writes a lead and marks dirty (committed) before finish()
    Workspace(other_db, workspace.id).lead()
    workspace.mark_dirty(db=other_db)
    new_generation = marked(other_db, workspace)["generation"]
    outcome = rc.finish(lease)
    # Then the marker it cleared is the one its snapshot read, and the counts include the data behind it
    assert lease.generation != new_generation
    assert (outcome.generation, outcome.marker_cleared) == (new_generation, True)
    assert totals(workspace) == 2
    assert marker(db, workspace) is None
    # And a further recompute finds nothing left to do
    again = job(db, cache, settings).run(workspace.id, ctx())
    assert (again.changed, again.marker_cleared, totals(workspace)) == (False, False, 2)


@pytest.mark.parametrize("same_millisecond", [False, True], ids=["new_dirtyAt", "same_dirtyAt_millisecond"])
def test_a_mark_landing_while_the_compute_statement_runs_survives(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    same_millisecond: bool,
) -> None:
    # Given a lead, a mark at T, and a recompute that has begun (its lease read the mark)
    workspace.lead()
    workspace.mark_dirty(dirty_at=T)
    rc = job(db, cache, settings)
    lease = rc.begin(workspace.id, ctx())
    assert lease.generation == marked(other_db, workspace)["generation"]
    # And other_db, in an open transaction, writes a lead and re-marks (holding the marker row's lock)
    other_db.run("BEGIN")
    Workspace(other_db, workspace.id).lead()
    second_at = T if same_millisecond else T + timedelta(milliseconds=1)
    workspace.mark_dirty(db=other_db, dirty_at=second_at)
    # When finish() runs, blocks on clearing the marker, and other_db commits meanwhile
    outcome = finish_while_blocked(rc, lease, db, other_db, lambda: None)
    # Then the computation did not see the new lead, so the new mark (even in the same millisecond) remains
    assert (outcome.generation, outcome.marker_cleared) == (lease.generation, False)
    assert totals(workspace) == 1
    left = marker(db, workspace)
    assert left is not None
    assert left["dirty_at"] == second_at
    assert left["generation"] != lease.generation
    # And a further recompute sees the lead and clears the mark
    again = job(db, cache, settings).run(workspace.id, ctx())
    assert (again.marker_cleared, totals(workspace), marker(db, workspace)) == (True, 2, None)


def test_same_millisecond_remark_before_the_snapshot_is_cleared_only_as_read(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
) -> None:
    # Given a mark at T and a recompute that has begun
    workspace.mark_dirty(dirty_at=T)
    rc = job(db, cache, settings)
    lease = rc.begin(workspace.id, ctx())
    # When other_db writes a lead and re-marks at exactly T (committed), then finish() runs
    Workspace(other_db, workspace.id).lead()
    workspace.mark_dirty(db=other_db, dirty_at=T)
    second = marked(other_db, workspace)
    outcome = rc.finish(lease)
    # Then the snapshot read the second generation (same dirtyAt) and saw its lead: clearing it loses nothing
    assert second["generation"] != lease.generation
    assert second["dirty_at"] == lease.dirty_at == T
    assert (outcome.generation, outcome.marker_cleared, totals(workspace)) == (second["generation"], True, 1)


def test_two_recomputes_of_one_workspace_never_overlap_and_the_newest_data_wins(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    raw_redis: redis.Redis,
) -> None:
    # Given a recompute holding the workspace's lock
    workspace.lead()
    first = job(db, cache, settings)
    lease = first.begin(workspace.id, ctx("req-1"))
    # When a second recompute of the same workspace starts, it is refused (and leaves the holder's status alone)
    with pytest.raises(BusyError):
        job(other_db, cache, settings).begin(workspace.id, ctx("req-2"))
    holder = cache.read_status(JobName.INBOX_COUNTS, workspace.id)
    assert holder is not None
    assert holder.requestId == "req-1"
    # And the inbox lock does not block the analytics job of the same workspace
    analytics = Recompute(JobName.ANALYTICS_AGGREGATES, other_db, cache, settings)
    analytics.abandon(analytics.begin(workspace.id, ctx("req-3")))
    first_outcome = first.finish(lease)
    first_version = workspace.inbox_version()
    # When data is written after the first finished and a new recompute runs
    Workspace(other_db, workspace.id).lead(status="needs_repair")
    second_outcome = job(other_db, cache, settings).run(workspace.id, ctx("req-2"))
    # Then the newer result is what stays, with a newer change stamp and the next version
    assert workspace.counts()["global"] == {
        **zero_counts(),
        "total": 2,
        "totalNonBlacklisted": 2,
        "needsRepair": 1,
        "awaitingReply": 2,
    }
    assert first_outcome.change_stamp is not None and second_outcome.change_stamp is not None
    assert second_outcome.change_stamp > first_outcome.change_stamp
    second_version = workspace.inbox_version()
    assert second_version > first_version
    assert (first_outcome.version, second_outcome.version, raw_redis.get(f"inbox:v1:ver:{workspace.id}")) == (
        first_version,
        second_version,
        str(second_version),
    )


def test_the_lock_dies_with_its_holder(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
) -> None:
    # Given a recompute holding the lock whose connection dies
    job(db, cache, settings).begin(workspace.id, ctx())
    db.discard()
    # When another recompute starts, Then it gets the lock at once
    outcome = job(other_db, cache, settings).run(workspace.id, ctx())
    assert outcome.workspace_exists
    assert totals(workspace) == 0


def test_version_bump_failing_after_commit_is_retried_exactly_once(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    raw_redis: redis.Redis,
) -> None:
    # Given a dirty workspace and a recompute whose cache breaks after begin()
    workspace.lead()
    workspace.mark_dirty()
    lease = job(db, cache, settings).begin(workspace.id, ctx())
    broken = RedisStore("redis://127.0.0.1:1/0", timeout_s=0.5)  # nothing listens on port 1
    # When finish() commits and then fails to publish
    with pytest.raises(TransientError):
        job(db, broken, settings).finish(lease)
    broken.close()
    # Then the counts and the cleared marker are committed (seen from another connection), no version yet
    assert Workspace(other_db, workspace.id).counts()["global"]["total"] == 1
    assert marker(other_db, workspace) is None
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") is None
    owed = Workspace(other_db, workspace.id).inbox_version()
    # When the job is retried with a working cache, Then the version is bumped exactly once, to the committed stamp's
    retry = job(db, cache, settings).run(workspace.id, ctx())
    assert (retry.changed, retry.version, raw_redis.get(f"inbox:v1:ver:{workspace.id}")) == (False, owed, str(owed))
    # And a further retry bumps nothing
    assert job(db, cache, settings).run(workspace.id, ctx()).version == owed
    assert Workspace(other_db, workspace.id).inbox_version() == owed
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(owed)


def test_a_recompute_of_another_workspace_never_clears_this_marker(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    other = Workspace.create(db)
    workspace.mark_dirty()
    outcome = job(db, cache, settings).run(other.id, ctx())
    assert outcome.marker_cleared is False
    assert marker(db, workspace) is not None


def test_a_mark_after_a_recompute_finished_stays_until_the_next(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    workspace.mark_dirty()
    assert job(db, cache, settings).run(workspace.id, ctx()).marker_cleared
    workspace.lead()
    workspace.mark_dirty()
    assert marker(db, workspace) is not None
    assert job(db, cache, settings).run(workspace.id, ctx()).marker_cleared
    assert marker(db, workspace) is None
    assert totals(workspace) == 1


def test_a_first_mark_inserted_after_the_snapshot_is_not_cleared(
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
) -> None:
    # Given counts materialized once and no marker
    job(db, cache, settings).run(workspace.id, ctx())
    rc = job(db, cache, settings)
    lease = rc.begin(workspace.id, ctx())
    assert lease.generation is None
    # And other_db holding the global counts row's lock in an open transaction
    other_db.run("BEGIN")
    other_db.run('SELECT 1 FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal" FOR UPDATE', id=workspace.id)

    # When finish() blocks writing the counts and other_db writes a lead and the first mark, then commits
    def write_and_mark() -> None:
        Workspace(other_db, workspace.id).lead()
        workspace.mark_dirty(db=other_db)

    outcome = finish_while_blocked(rc, lease, db, other_db, write_and_mark)
    # Then the computation, which saw neither, leaves the mark for the next one
    assert (outcome.generation, outcome.marker_cleared, totals(workspace)) == (None, False, 0)
    assert marker(db, workspace) is not None
    again = job(db, cache, settings).run(workspace.id, ctx())
    assert (again.marker_cleared, totals(workspace), marker(db, workspace)) == (True, 1, None)
