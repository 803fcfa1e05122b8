"""The inbox counts function end to end: moto queues, real PostgreSQL and Redis.

Delivery semantics here (success, duplicates, coalescing, priority); failures in test_inbox_function_failures.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, Priority, new_event, to_body
from shared.domain.routing import queue_url_for
from shared.ports import OutgoingMessage
from tests.builders import Workspace
from tests.integration.functions.harness import FunctionUnderTest, Telemetry


@pytest.fixture
def redis_url(either_redis_url: str) -> str:
    """Every test here runs on one Redis node and on a three-master Redis Cluster (found by REDIS_CLUSTER=auto)."""
    return either_redis_url


def dirty_body(client_id: str, priority: Priority = Priority.NORMAL) -> str:
    return to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="webhook", priority=priority))


def status_of(raw_redis: redis.Redis, client_id: str) -> dict[str, Any] | None:
    text = raw_redis.get(f"job:v1:{client_id}:inbox_counts")
    return json.loads(text) if text else None


def version_of(raw_redis: redis.Redis, client_id: str) -> str | None:
    return raw_redis.get(f"inbox:v1:ver:{client_id}")  # type: ignore[return-value]


def global_row(db: PostgresDatabase, client_id: str) -> dict[str, Any]:
    return db.run(
        'SELECT "computedAt", "updatedAt" FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal"', id=client_id
    )[0]


def test_a_dirty_event_runs_to_completion(
    inbox_function: FunctionUnderTest, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    # Given a lead and a dirty mark, when the app's dirty event is consumed
    workspace.lead(assignedToUserId="s1")
    workspace.mark_dirty()
    marked = (workspace.dirty_marker() or {})["dirty_at"]
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    result = inbox_function.poll("counts")
    # Then it succeeded: rows written, version bumped, marker gone, status succeeded, queue empty
    assert result["failed"] == set()
    assert workspace.counts()["global"]["total"] == 1
    assert workspace.dirty_marker() is None
    version = workspace.inbox_version()
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(version)
    status = json.loads(raw_redis.get(f"job:v1:{workspace.id}:inbox_counts") or "{}")
    assert status["status"] == "succeeded" and status["version"] == version and status["attempt"] == 1
    assert status["dirtyAt"] == marked.isoformat()  # the mark it served, on the database's clock (the canary's)
    assert inbox_function.aws.depth(inbox_function.aws.queues["counts"].url) == (0, 0)
    assert inbox_function.aws.depth(inbox_function.aws.queues["counts"].dlq_url) == (0, 0)


def test_given_one_record_delivered_three_times_then_one_recompute_and_the_others_skip(
    inbox_function: FunctionUnderTest,
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    event = inbox_function.aws.receive_event("counts")
    assert inbox_function.invoke(event) == {"batchItemFailures": []}
    first = global_row(db, workspace.id)
    first_version = workspace.inbox_version()
    assert version_of(raw_redis, workspace.id) == str(first_version)
    # When the very same record comes twice more (an at-least-once redelivery)
    for _ in range(2):
        assert inbox_function.invoke(event) == {"batchItemFailures": []}
    # Then nothing was recomputed again: same row, the first run's version, status skipped
    assert global_row(db, workspace.id) == first
    assert version_of(raw_redis, workspace.id) == str(first_version)
    assert (status_of(raw_redis, workspace.id) or {})["status"] == "skipped"
    assert telemetry.metric("JobsSucceeded") == 1
    assert telemetry.metric("JobsSkippedClean") + telemetry.metric("JobsSkippedDuplicate") == 2


def test_given_three_messages_for_one_dirty_generation_in_three_batches_then_one_recompute_two_skips(
    inbox_function: FunctionUnderTest,
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    rows = []
    for _ in range(3):
        inbox_function.aws.send("counts", dirty_body(workspace.id))
        assert inbox_function.poll("counts")["failed"] == set()
        rows.append(global_row(db, workspace.id))
    assert rows[0] == rows[1] == rows[2]  # the change stamp too: the version of the first run's stamp stands
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version())
    assert (status_of(raw_redis, workspace.id) or {})["status"] == "skipped"
    assert telemetry.metric("JobsSucceeded") == 1
    assert telemetry.metric("JobsSkippedClean") + telemetry.metric("JobsSkippedDuplicate") == 2


def test_given_a_batch_with_a_burst_for_one_workspace_then_one_recompute_per_workspace(
    inbox_function: FunctionUnderTest, db: PostgresDatabase, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    busy, quiet = Workspace.create(db), Workspace.create(db)
    for ws in (busy, quiet):
        ws.lead()
        ws.mark_dirty()
    for body in [dirty_body(busy.id) for _ in range(3)] + [dirty_body(quiet.id)]:
        inbox_function.aws.send("counts", body)
    result = inbox_function.poll("counts")
    assert len(result["event"]["Records"]) == 4 and result["failed"] == set()
    assert telemetry.metric("JobsSucceeded") == 2 and telemetry.metric("JobsSkippedCoalesced") == 2
    assert version_of(raw_redis, busy.id) == str(busy.inbox_version())
    assert version_of(raw_redis, quiet.id) == str(quiet.inbox_version())
    assert busy.dirty_marker() is None and quiet.dirty_marker() is None


def test_given_a_newer_dirty_generation_after_a_run_then_exactly_one_follow_up_run(
    inbox_function: FunctionUnderTest, workspace: Workspace, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    inbox_function.poll("counts")
    first = workspace.inbox_version()
    assert version_of(raw_redis, workspace.id) == str(first)
    # When the app writes again and marks dirty, and two dirty events arrive in separate batches
    workspace.lead()
    workspace.mark_dirty()
    for _ in range(2):
        inbox_function.aws.send("counts", dirty_body(workspace.id))
        assert inbox_function.poll("counts")["failed"] == set()
    # Then exactly one more recompute: the version of its new stamp, the other event skipped clean
    second = workspace.inbox_version()
    assert second > first and version_of(raw_redis, workspace.id) == str(second)
    assert workspace.counts()["global"]["total"] == 2
    assert telemetry.metric("JobsSucceeded") == 2 and telemetry.metric("JobsSkippedClean") == 1
    assert workspace.dirty_marker() is None


def test_given_a_high_priority_event_then_it_goes_to_the_high_queue_and_is_processed_there(
    inbox_function: FunctionUnderTest, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id=workspace.id, priority=Priority.HIGH)
    url = queue_url_for(event, inbox_function.clients.queues)
    inbox_function.sqs.send(url, OutgoingMessage(to_body(event)))
    queues = inbox_function.aws.queues
    assert url == queues["counts_high"].url
    assert inbox_function.aws.depth(queues["counts_high"].url) == (1, 0)
    assert inbox_function.aws.depth(queues["counts"].url) == (0, 0)
    result = inbox_function.poll("counts_high")
    assert len(result["event"]["Records"]) == 1 and result["failed"] == set()
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version())
    assert inbox_function.aws.depth(queues["counts_high"].url) == (0, 0)


def test_given_a_resent_recompute_and_a_dirty_event_in_one_batch_then_the_dirty_mark_is_still_served(
    inbox_function: FunctionUnderTest, workspace: Workspace, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    workspace.lead()
    resent = to_body(new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=workspace.id, source="manual"))
    inbox_function.aws.send("counts", resent)
    inbox_function.poll("counts")
    first = workspace.inbox_version()
    assert version_of(raw_redis, workspace.id) == str(first)
    # Given new data and its dirty mark; the old recompute is resent (same event id) ahead of the app's event
    workspace.lead()
    workspace.mark_dirty()
    dirty = dirty_body(workspace.id)
    inbox_function.aws.send("counts", resent)
    inbox_function.aws.send("counts", dirty)
    # When both arrive in one batch
    result = inbox_function.poll("counts")
    assert [r["body"] for r in result["event"]["Records"]] == [resent, dirty] and result["failed"] == set()
    assert telemetry.metric("JobsSkippedDuplicate") == 1
    # Then the dirty event still gets its recompute: counts fresh, the version of its new stamp, no mark left
    assert workspace.counts()["global"]["total"] == 2
    second = workspace.inbox_version()
    assert second > first and version_of(raw_redis, workspace.id) == str(second)
    assert workspace.dirty_marker() is None
