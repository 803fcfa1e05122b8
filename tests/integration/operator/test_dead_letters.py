"""dlq peek shows without consuming; dlq redrive moves every message back exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recount.commands.dead_letters import redrive
from recount.commands.dead_letters.peek import MAX_RECEIVES_REASON
from recount.commands.dead_letters.queues import DeadLetterSqs
from shared.adapters.sqs import REASON_ATTRIBUTE
from shared.contracts.events import EventName, new_event, to_body
from tests.integration.operator.conftest import Operator


def _event(client_id: str) -> str:
    return to_body(new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=client_id, source="test"))


def test_peek_shows_reasons_and_leaves_every_message_in_the_dead_letter_queue(operator: Operator) -> None:
    # Given a poison message, a permanent failure and one SQS dead-lettered after maxReceiveCount
    operator.dead_letter("counts", "not json", reason="not JSON: Expecting value")
    operator.dead_letter("counts", _event("acme"), reason="postgres 42P01: relation does not exist")
    operator.dead_letter("counts", _event("globex"))

    peek = operator.json("dlq", "peek", "counts")

    assert peek["queue"] == "counts" and peek["approximateDepth"] == 3
    by_reason = {message["reason"]: message for message in peek["messages"]}
    assert set(by_reason) == {
        "not JSON: Expecting value",
        "postgres 42P01: relation does not exist",
        MAX_RECEIVES_REASON,
    }
    poison = by_reason["not JSON: Expecting value"]
    assert (poison["event"], poison["clientId"], poison["valid"]) == (None, None, False)
    assert by_reason["postgres 42P01: relation does not exist"]["clientId"] == "acme"
    assert all(message["event"] in (None, "inbox.counts.recompute") for message in peek["messages"])
    assert all(message["receiveCount"] >= 1 for message in peek["messages"])
    # Then all three are still there, visible to the next receive
    assert operator.depth(operator.url("counts", dead_letter=True)) == (3, 0)
    table = operator.run("dlq", "peek", "counts-high")
    assert table.returncode == 0 and "counts_high dead-letter queue: 0 message(s)" in table.stdout


def test_redrive_moves_every_message_back_exactly_once(operator: Operator) -> None:
    # Given 23 dead letters (three batches), two of them with equal bodies, all with a reason
    bodies = [_event(f"ws-{index}") for index in range(22)]
    bodies.append(bodies[0])
    for body in bodies:
        operator.dead_letter("counts_high", body, reason="throttled")
    dlq = operator.url("counts_high", dead_letter=True)
    assert operator.depth(dlq) == (23, 0)

    result = operator.run("dlq", "redrive", "counts-high")

    assert result.returncode == 0, result.stderr
    assert "moved 23 message(s)" in result.stdout and "StartMessageMoveTask" in result.stdout
    assert operator.depth(dlq) == (0, 0)
    moved = operator.drain(operator.url("counts_high"))
    assert Counter(message["Body"] for message in moved) == Counter(bodies)
    assert len({message["MessageId"] for message in moved}) == 23
    assert {message["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] for message in moved} == {"throttled"}
    assert operator.empty_except("counts_high")


class _FlakySqs(DeadLetterSqs):
    """The real SQS calls, with faults injected: deletes that fail, and a message dead-lettered mid-move."""

    def __init__(self, operator: Operator, *, failed_deletes: int = 0, dead_letter_during_move: str | None = None):
        super().__init__(operator.target)
        self.failed_deletes = failed_deletes
        self.dead_letter_during_move = dead_letter_during_move
        self.sent: list[str] = []

    def __call__(self, operation: str, **kwargs: Any) -> Any:
        if operation == "delete_message_batch" and self.failed_deletes:
            self.failed_deletes -= 1
            return {
                "Failed": [
                    {"Id": entry["Id"], "Code": "InternalError", "SenderFault": False} for entry in kwargs["Entries"]
                ]
            }
        response = super().__call__(operation, **kwargs)
        if operation == "send_message_batch":
            self.sent.extend(entry["MessageBody"] for entry in kwargs["Entries"])
            if self.dead_letter_during_move:
                body, self.dead_letter_during_move = self.dead_letter_during_move, None
                super().__call__("send_message", QueueUrl=self.dlq_url, MessageBody=body)
        return response

    dlq_url = ""


@pytest.fixture
def quick_visibility(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redrive, "MOVE_VISIBILITY_SECONDS", 1)


@pytest.mark.usefixtures("quick_visibility")
def test_a_message_whose_delete_failed_is_deleted_when_it_returns_never_resent(operator: Operator) -> None:
    bodies = [_event(f"ws-{index}") for index in range(4)]
    for body in bodies:
        operator.dead_letter("counts", body, reason="x")
    dlq, queue = operator.url("counts", dead_letter=True), operator.url("counts")
    sqs = _FlakySqs(operator, failed_deletes=2)  # the first delete and its retry both fail

    result = redrive.Redrive("counts", "manual")
    redrive._move(sqs, dlq, queue, result, lambda _: None)

    assert (result.moved, result.duplicatesDeleted) == (4, 4)
    assert Counter(sqs.sent) == Counter(bodies)
    assert operator.depth(dlq) == (0, 0)
    assert Counter(message["Body"] for message in operator.drain(queue)) == Counter(bodies)


def test_a_message_dead_lettered_during_the_move_is_left_for_the_next_redrive(operator: Operator) -> None:
    bodies = [_event(f"ws-{index}") for index in range(3)]
    for body in bodies:
        operator.dead_letter("counts", body, reason="x")
    dlq, queue = operator.url("counts", dead_letter=True), operator.url("counts")
    late = _event("late")
    sqs = _FlakySqs(operator, dead_letter_during_move=late)
    sqs.dlq_url = dlq

    result = redrive.Redrive("counts", "manual")
    redrive._move(sqs, dlq, queue, result, lambda _: None)

    assert (result.moved, result.leftForLater) == (3, 1)
    assert Counter(message["Body"] for message in operator.drain(queue)) == Counter(bodies)
    assert operator.depth(dlq) == (1, 0)  # and visible again at once
    assert [message["Body"] for message in operator.drain(dlq)] == [late]


def test_an_unknown_queue_is_one_line(operator: Operator) -> None:
    result = operator.run("dlq", "peek", "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown queue 'nope': choose one of counts, counts_high, analytics, sweep"


@pytest.mark.parametrize(
    ("status", "code", "falls_back"),
    [
        (500, "500", True),  # moto's server: a bare 500 page for an action it has not implemented
        (501, "NotImplemented", True),
        (400, "InvalidAction", True),
        (400, "AccessDenied", False),  # a real refusal is reported, not worked around
        (500, "InternalError", False),
        (400, "AWS.SimpleQueueService.UnsupportedOperation", False),
    ],
)
def test_only_an_endpoint_without_the_move_task_api_gets_the_manual_move(
    status: int, code: str, falls_back: bool
) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartMessageMoveTask",
    )
    assert redrive._unsupported(error) is falls_back
