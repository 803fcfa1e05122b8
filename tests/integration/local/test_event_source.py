"""Lambda's SQS event source as the local runtime emulates it, against moto's server.

The handlers here are small recording functions: the emulation is what is under test.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from recount.local.event_source import EventSource, ExecutionEnvironments, LocalContext
from tests.integration.local.conftest import make_queue


def wait_until(condition: Any, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def source(
    sqs: Any,
    queue: dict[str, str],
    handler: Any,
    *,
    reserved: int = 2,
    max_concurrency: int = 2,
    batch_size: int = 10,
    window_s: float = 0.0,
    timeout_s: float = 30.0,
) -> EventSource:
    environments = ExecutionEnvironments("test", lambda: handler, reserved)
    return EventSource(queue["url"], queue["arn"], environments, sqs, batch_size, window_s, timeout_s, max_concurrency)


def test_partial_batch_failures_are_left_and_successes_deleted(sqs: Any) -> None:
    queue = make_queue(sqs)
    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=body)
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(r["body"] for r in event["Records"])
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]
        }

    poller = source(sqs, queue, handler, batch_size=10, window_s=0.5)
    poller.start()
    try:
        assert wait_until(lambda: len(seen) >= 3 and depth(sqs, queue["url"]) == (0, 1))
    finally:
        poller.stop()
    # Given one failure in a batch of three, then only the failed one is still on the queue (in flight)
    assert sorted(seen[:3]) == ["fail", "ok-1", "ok-2"]


def test_the_visibility_a_handler_sets_is_honoured_before_redelivery(sqs: Any) -> None:
    queue = make_queue(sqs)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="retry-me")
    deliveries: list[float] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deliveries.append(time.monotonic())
        record = event["Records"][0]
        if len(deliveries) == 1:  # the first attempt fails and asks for a 2 s backoff, as the consumer does
            sqs.change_message_visibility(
                QueueUrl=queue["url"], ReceiptHandle=record["receiptHandle"], VisibilityTimeout=2
            )
            return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
        return {"batchItemFailures": []}

    poller = source(sqs, queue, handler)
    poller.start()
    try:
        assert wait_until(lambda: len(deliveries) >= 2)
    finally:
        poller.stop()
    assert deliveries[1] - deliveries[0] >= 1.9
    assert wait_until(lambda: depth(sqs, queue["url"]) == (0, 0))


def test_a_message_failing_every_time_is_redriven_after_max_receive_count(sqs: Any) -> None:
    queue = make_queue(sqs, max_receive_count=3)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="poisonous")
    counts: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        record = event["Records"][0]
        counts.append(int(record["attributes"]["ApproximateReceiveCount"]))
        sqs.change_message_visibility(QueueUrl=queue["url"], ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}

    poller = source(sqs, queue, handler)
    poller.start()
    try:
        assert wait_until(lambda: depth(sqs, queue["dlq_url"])[0] == 1)
    finally:
        poller.stop()
    assert counts == [1, 2, 3]  # received exactly maxReceiveCount times, then moved by the redrive policy
    assert depth(sqs, queue["url"]) == (0, 0)


def test_never_more_invocations_at_once_than_the_maximum_concurrency(sqs: Any) -> None:
    queue = make_queue(sqs)
    for index in range(12):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=str(index))
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "done": 0}

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
            state["done"] += len(event["Records"])
        return {"batchItemFailures": []}

    poller = source(sqs, queue, handler, reserved=5, max_concurrency=2, batch_size=1)
    poller.start()
    try:
        assert wait_until(lambda: state["done"] == 12, timeout_s=30)
    finally:
        poller.stop()
    assert state["peak"] == 2


def test_batches_respect_the_batch_size(sqs: Any) -> None:
    queue = make_queue(sqs)
    for index in range(12):
        sqs.send_message(QueueUrl=queue["url"], MessageBody=str(index))
    sizes: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sizes.append(len(event["Records"]))
        return {"batchItemFailures": []}

    poller = source(sqs, queue, handler, batch_size=5, window_s=1.0, max_concurrency=2)
    poller.start()
    try:
        assert wait_until(lambda: sum(sizes) == 12)
    finally:
        poller.stop()
    assert max(sizes) <= 5 and sizes.count(5) >= 2  # the window gathered full batches


def test_an_invocation_error_deletes_nothing(sqs: Any) -> None:
    queue = make_queue(sqs, visibility_timeout=30)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="boom")
    calls: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("the whole invocation failed")

    poller = source(sqs, queue, handler)
    poller.start()
    try:
        assert wait_until(lambda: calls and depth(sqs, queue["url"]) == (0, 1))
    finally:
        poller.stop()


def test_the_context_counts_down_from_the_function_timeout() -> None:
    started = time.monotonic()
    context = LocalContext("test", timeout_s=2.0)
    first = context.get_remaining_time_in_millis()
    time.sleep(0.2)
    remaining = context.get_remaining_time_in_millis()
    elapsed_ms = (time.monotonic() - started) * 1000
    # Bounded by the clock this test read, not by how long a loaded machine took to wake from the sleep
    assert first <= 2_000
    assert remaining <= first - 200, "at least the time slept has gone"
    assert remaining >= 2_000 - elapsed_ms - 1, "and no more than really passed"
