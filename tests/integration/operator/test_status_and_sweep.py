"""status reads what the functions wrote; sweep enqueues what the schedule would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from tests.builders import Workspace
from tests.integration.operator.conftest import Operator


def _utc_naive(delta: timedelta) -> datetime:
    return (datetime.now(UTC) - delta).replace(tzinfo=None)


def test_status_shows_blobs_versions_and_the_marker_age(
    operator: Operator, workspace: Workspace, db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    # Given a workspace recomputed once, then marked dirty 90 s ago
    workspace.lead(status="new", assignedToUserId="setter-1")
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(workspace.id, JobContext("req-1", "manual"))
    workspace.mark_dirty(dirty_at=_utc_naive(timedelta(seconds=90)))

    status = operator.json("status", workspace.id)

    assert status["workspaceExists"] is True
    assert 90 <= status["dirtyAgeSeconds"] < 150 and status["dirtyGeneration"]
    assert status["countsComputedAt"] is not None and status["aggregatesComputedAt"] is None
    jobs = {job["job"]: job for job in status["jobs"]}
    inbox, analytics = jobs["inbox_counts"], jobs["analytics_aggregates"]
    assert inbox["version"] == workspace.inbox_version() and inbox["status"]["status"] == "succeeded"
    assert inbox["status"]["requestId"] == "req-1" and 0 < inbox["statusTtlSeconds"] <= 86_400
    assert analytics == {"job": "analytics_aggregates", "version": None, "status": None, "statusTtlSeconds": None}

    # And the table says the same
    table = operator.run("status", workspace.id)
    assert table.returncode == 0, table.stderr
    assert "dirty for 9" in table.stdout and "succeeded" in table.stdout and "req-1" in table.stdout


def test_sweep_enqueues_one_recompute_per_dirty_workspace(operator: Operator, db: PostgresDatabase) -> None:
    # Given two workspaces dirty for a minute and one clean
    dirty = [Workspace.create(db), Workspace.create(db)]
    for workspace in dirty:
        workspace.mark_dirty(dirty_at=_utc_naive(timedelta(minutes=1)))
    Workspace.create(db)

    result = operator.run("sweep", "inbox")

    assert result.returncode == 0, result.stderr
    assert "enqueued 2 recompute(s) (2 dirty, 0 with expired snoozes); backlog 2" in result.stdout
    assert "{" not in result.stdout  # the sweep's structured logs are not the command's output
    bodies = operator.bodies("counts")
    assert sorted(body["data"]["clientId"] for body in bodies) == sorted(w.id for w in dirty)
    assert {body["name"] for body in bodies} == {"inbox.counts.recompute"}
    for body in bodies:
        marker = next(w for w in dirty if w.id == body["data"]["clientId"]).dirty_marker()
        assert marker is not None and body["data"]["dirtyGeneration"] == marker["generation"]
        assert body["data"]["source"] == "sweep"
    assert operator.empty_except("counts")


def test_status_of_an_unknown_workspace(operator: Operator) -> None:
    status = operator.json("status", "nobody")
    assert status["workspaceExists"] is False and status["dirtyAt"] is None
    assert all(job["version"] is None and job["status"] is None for job in status["jobs"])
