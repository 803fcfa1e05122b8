"""Messages that can never succeed: dead-lettered at once with their reason, never retried, never blocking.

The corpus is tests/fixtures/poison_messages.json (case, body, expected reason), plus an oversize body and a
valid event for another function, all sent to the counts queue among good dirty events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE
from shared.contracts.events import MAX_ENVELOPE_BYTES, EventName, new_event, to_body
from tests.builders import Workspace
from tests.integration.functions.harness import FunctionUnderTest, Telemetry
from tests.integration.functions.test_inbox_function import dirty_body, version_of

CORPUS: list[dict[str, str]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "poison_messages.json").read_text(encoding="utf-8")
)
SQS_BATCH = 10


def poison_cases() -> list[dict[str, str]]:
    oversize = json.dumps(
        {"name": "inbox.counts.dirty", "version": 1, "id": "big", "padding": "x" * MAX_ENVELOPE_BYTES}
    )
    sweep = to_body(new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule"))
    return [
        *CORPUS,
        {"case": "oversize body", "body": oversize, "reason": "oversize"},
        {
            "case": "a sweep event on the counts queue",
            "body": sweep,
            "reason": "inbox.counts.sweep is not handled by the inbox_counts function",
        },
    ]


def attribute(message: dict[str, Any], name: str) -> str:
    return str(message.get("MessageAttributes", {}).get(name, {}).get("StringValue", ""))


def test_given_poison_among_good_events_then_every_poison_is_dead_lettered_with_its_reason_and_the_rest_proceeds(
    inbox_function: FunctionUnderTest, db: PostgresDatabase, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    # Given two workspaces with a dirty mark each, and every poison case of the corpus
    good = [Workspace.create(db) for _ in range(2)]
    for ws in good:
        ws.lead()
        ws.mark_dirty()
    cases = poison_cases()
    assert len({case["body"] for case in cases}) == len(cases), "bodies identify the cases in the DLQ"
    assert len(cases[-2]["body"].encode()) > MAX_ENVELOPE_BYTES
    aws = inbox_function.aws
    counts = aws.queues["counts"]
    # The good events ride in the first and in the last batch, among poison
    good_bodies = [dirty_body(ws.id) for ws in good]
    for body in [good_bodies[0], *(case["body"] for case in cases), good_bodies[1]]:
        aws.send("counts", body)

    # When the function consumes the queue batch by batch (an SQS batch holds at most 10)
    batches = []
    while aws.depth(counts.url) != (0, 0):
        result = inbox_function.poll("counts")
        records = result["event"]["Records"]
        assert 0 < len(records) <= SQS_BATCH
        assert result["failed"] == set(), "a poison record must never fail its batch"
        batches.append([record["body"] for record in records])
    assert len(batches) >= 4 and sum(len(batch) for batch in batches) == len(cases) + 2
    assert [body for batch in batches for body in batch if body in good_bodies] == good_bodies
    assert any(len(set(batch) - set(good_bodies)) >= 1 for batch in batches if set(batch) & set(good_bodies)), (
        "a good event shared its batch with poison"
    )

    # Then each poison is in the counts DLQ once, with the expected reason and its source queue
    dead = {message["Body"]: message for message in aws.drain(counts.dlq_url)}
    assert len(dead) == len(cases)
    wrong = []
    for case in cases:
        message = dead.get(case["body"])
        if message is None:
            wrong.append(f"{case['case']}: not in the DLQ")
        elif case["reason"] not in attribute(message, REASON_ATTRIBUTE):
            wrong.append(f"{case['case']}: reason {attribute(message, REASON_ATTRIBUTE)!r}")
        elif attribute(message, SOURCE_QUEUE_ATTRIBUTE) != counts.url:
            wrong.append(f"{case['case']}: source {attribute(message, SOURCE_QUEUE_ATTRIBUTE)!r}")
    assert wrong == []
    # And the good records succeeded: rows, the version of their stamp, marker gone
    for ws in good:
        assert ws.counts()["global"]["total"] == 1
        assert version_of(raw_redis, ws.id) == str(ws.inbox_version()) and ws.dirty_marker() is None
    # And nothing was retried: no visibility change, no retry metric, the source queue is empty
    assert inbox_function.sqs.visibility_changes() == []
    assert telemetry.metric("JobsRetried") == 0 and telemetry.metric("JobsFailed") == 0
    assert telemetry.metric("JobsDeadLettered") == len(cases) and telemetry.metric("JobsSucceeded") == 2
    errors = telemetry.logs("ERROR")
    assert len(errors) == len(cases)
    assert all(line["message"].startswith("message can never succeed") and line["reason"] for line in errors)
    assert aws.depth(counts.url) == (0, 0)


def test_given_a_poison_body_then_it_is_never_received_again(inbox_function: FunctionUnderTest) -> None:
    # Given one poison message; when it is consumed, then it is gone from the source queue for good
    aws = inbox_function.aws
    aws.send("counts", "recompute acme please")
    assert inbox_function.poll("counts")["failed"] == set()
    aws.make_visible("counts")
    assert aws.receive_event("counts")["Records"] == []
    [message] = aws.drain(aws.queues["counts"].dlq_url)
    assert attribute(message, REASON_ATTRIBUTE).startswith("not JSON")
    assert message["Body"] == "recompute acme please"
