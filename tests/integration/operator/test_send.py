"""send: the manual SQS send, validated before it leaves, routed as the functions route."""

from __future__ import annotations

import json

from tests.integration.operator.conftest import Operator


def test_send_lands_in_the_queue_its_event_and_priority_route_to(operator: Operator) -> None:
    # Given the local target, when an operator sends a normal and a high priority dirty event and a sweep
    normal = operator.json("send", "inbox.counts.dirty", "--client-id", "acme")
    high = operator.json(
        "send", "inbox.counts.recompute", "--client-id", "acme", "--priority", "high", "--source", "ops"
    )
    sweep = operator.json("send", "inbox.counts.sweep")

    # Then each is in its own queue, once, with the message id and the event id printed
    assert (normal["queue"], high["queue"], sweep["queue"]) == ("counts", "counts_high", "sweep")
    for sent, queue in ((normal, "counts"), (high, "counts_high"), (sweep, "sweep")):
        [message] = operator.drain(operator.url(queue))
        assert message["MessageId"] == sent["messageId"]
        body = json.loads(message["Body"])
        assert body["id"] == sent["eventId"] and body["name"] == sent["event"]
        if queue == "counts_high":
            assert body["data"] == {
                "clientId": "acme",
                "requestId": body["id"],
                "source": "ops",
                "priority": "high",
                "dirtyGeneration": None,
            }
    assert operator.empty_except()


def test_a_bad_client_id_is_one_line_and_nothing_is_sent(operator: Operator) -> None:
    result = operator.run("send", "inbox.counts.dirty", "--client-id", "acme:*")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "invalid clientId 'acme:*'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert operator.empty_except()


def test_the_event_and_its_arguments_are_checked_before_anything_is_sent(operator: Operator) -> None:
    result = operator.run("send", "inbox.counts.sweep", "--client-id", "acme")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: inbox.counts.sweep is a sweep event: it takes no --client-id"
    assert operator.empty_except()
