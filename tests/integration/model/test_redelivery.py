"""docs/design.md §6.2, no double apply, for the one redelivery the state machine only checks by its effect: a
record that was coalesced behind another record of its batch, delivered again."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.contracts.events import EventName, new_event, to_body
from tests.builders import Workspace
from tests.integration.model.rig import Rig


def global_computed_at(rig: Rig, client_id: str) -> Any:
    return rig.observer.run(
        'SELECT "computedAt" FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal"', id=client_id
    )[0]["computedAt"]


def status_of(rig: Rig, client_id: str) -> dict[str, Any]:
    return dict(json.loads(rig.raw_redis.get(f"job:v1:{client_id}:inbox_counts") or "{}"))


@pytest.fixture
def coalesced(model_rig: Rig) -> tuple[Rig, Workspace, dict[str, Any]]:
    """Two operator recompute events for one workspace in one batch: the first recomputes, the second is coalesced.
    Both are deleted, as the event source does after a successful batch. Returns the batch."""
    rig = model_rig
    rig.reset()
    workspace = Workspace.create(rig.app)
    workspace.lead()
    workspace.mark_dirty()
    bodies = [
        to_body(new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=workspace.id, source="manual")) for _ in range(2)
    ]
    for body in bodies:
        rig.aws.send("counts", body)
    event = rig.aws.receive_event("counts")
    assert [record["body"] for record in event["Records"]] == bodies
    assert rig.function.invoke(event)["batchItemFailures"] == []
    for record in event["Records"]:
        rig.aws.sqs.delete_message(QueueUrl=rig.aws.queues["counts"].url, ReceiptHandle=record["receiptHandle"])
    assert rig.raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(workspace.inbox_version())
    return rig, workspace, event


def test_the_record_that_recomputed_is_a_duplicate_when_delivered_again(
    coalesced: tuple[Rig, Workspace, dict[str, Any]],
) -> None:
    rig, workspace, event = coalesced
    before, version = global_computed_at(rig, workspace.id), workspace.inbox_version()
    assert rig.function.invoke({"Records": [copy.deepcopy(event["Records"][0])]})["batchItemFailures"] == []
    assert global_computed_at(rig, workspace.id) == before, "no second recompute"
    status = status_of(rig, workspace.id)
    assert status["status"] == "skipped" and status["reason"].startswith("duplicate")
    assert workspace.inbox_version() == version
    assert rig.raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(version)


def test_a_coalesced_record_delivered_again_does_not_recompute(
    coalesced: tuple[Rig, Workspace, dict[str, Any]],
) -> None:
    rig, workspace, event = coalesced
    before, version = global_computed_at(rig, workspace.id), workspace.inbox_version()
    assert rig.function.invoke({"Records": [copy.deepcopy(event["Records"][1])]})["batchItemFailures"] == []
    assert rig.raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(version), "no second bump"  # holds today
    assert global_computed_at(rig, workspace.id) == before, "a second recompute ran for work already done"
