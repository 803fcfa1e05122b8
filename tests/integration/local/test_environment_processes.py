"""Execution environments as processes: a crash or a timeout fails the invocation, the batch comes back after
its visibility timeout, and a new environment (a new process) takes it, as Lambda replaces one."""

from __future__ import annotations

import json
import os
import signal
from functools import partial
from pathlib import Path
from typing import Any

from recount.local.environment import ProcessEnvironment
from recount.local.event_source import EventSource, ExecutionEnvironments
from tests.integration.local.conftest import make_queue
from tests.integration.local.test_event_source import depth, wait_until


def seen(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def process_source(sqs: Any, queue: dict[str, str], tmp_path: Path, *, timeout_s: float = 30.0) -> EventSource:
    environment = {**os.environ, "SEEN_FILE": str(tmp_path / "seen.jsonl")}
    factory = partial(
        ProcessEnvironment, "test", "tests.integration.local.process_handler", environment, tmp_path / "env.log"
    )
    environments = ExecutionEnvironments("test", factory, reserved_concurrency=1)
    return EventSource(queue["url"], queue["arn"], environments, sqs, 1, 0.0, timeout_s, max_concurrency=1)


def test_an_environment_killed_mid_batch_is_replaced_and_the_record_comes_back(sqs: Any, tmp_path: Path) -> None:
    queue = make_queue(sqs, visibility_timeout=2)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="hang")
    poller = process_source(sqs, queue, tmp_path)
    poller.start()
    try:
        assert wait_until(lambda: len(seen(tmp_path / "seen.jsonl")) == 1, timeout_s=30)
        first = seen(tmp_path / "seen.jsonl")[0]
        os.kill(first["pid"], signal.SIGKILL)  # the process dies in the middle of its batch
        assert wait_until(lambda: len(seen(tmp_path / "seen.jsonl")) == 2, timeout_s=30)
        assert wait_until(lambda: depth(sqs, queue["url"]) == (0, 0))
    finally:
        poller.stop()
        poller.environments.close()
    second = seen(tmp_path / "seen.jsonl")[1]
    # Given the killed batch, then it came back (a second receive) to a new process, and nothing was deleted early
    assert (second["body"], second["attempt"]) == ("hang", 2)
    assert second["pid"] != first["pid"]
    assert (poller.environments.errors, poller.environments.replaced) == (1, 1)
    assert poller.environments.last_error.startswith("Runtime exited with error")
    assert depth(sqs, queue["dlq_url"]) == (0, 0)


def test_an_invocation_past_the_function_timeout_is_killed_and_retried(sqs: Any, tmp_path: Path) -> None:
    queue = make_queue(sqs, visibility_timeout=2)
    sqs.send_message(QueueUrl=queue["url"], MessageBody="hang")
    poller = process_source(sqs, queue, tmp_path, timeout_s=5.0)
    poller.start()
    try:
        assert wait_until(lambda: len(seen(tmp_path / "seen.jsonl")) == 2, timeout_s=40)
        assert wait_until(lambda: depth(sqs, queue["url"]) == (0, 0))
    finally:
        poller.stop()
        poller.environments.close()
    first, second = seen(tmp_path / "seen.jsonl")
    assert second["pid"] != first["pid"]
    assert (poller.environments.errors, poller.environments.replaced) == (1, 1)
    assert poller.environments.last_error.startswith("Task timed out")
