"""Execution environments as processes: a crash or a timeout fails the invocation, the batch comes back after
its visibility timeout, and a new environment (a new process) takes it, as Lambda replaces one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest

from recount.local.environment import ROOT, InvocationError, ProcessEnvironment
from recount.local.event_source import EventSource, ExecutionEnvironments, LocalContext
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


def environment(tmp_path: Path, module: str = "tests.integration.local.process_handler") -> ProcessEnvironment:
    variables = {**os.environ, "SEEN_FILE": str(tmp_path / "seen.jsonl")}
    return ProcessEnvironment("test", module, variables, tmp_path / "env.log")


def event(body: str) -> dict[str, Any]:
    return {"Records": [{"messageId": "m-1", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}]}


def test_a_handler_that_cannot_be_imported_fails_as_lambda_says_it_and_leaves_no_environment(tmp_path: Path) -> None:
    broken = environment(tmp_path, "tests.integration.local.broken_handler")

    with pytest.raises(InvocationError, match=r"^Runtime.ImportModuleError: ImportError: No module named 'a_dep"):
        broken(event("ok"), LocalContext("test", 30.0))

    assert not broken.alive and broken.process is not None and broken.process.poll() is not None


def test_a_response_that_cannot_be_sent_back_fails_the_invocation_and_keeps_the_environment(tmp_path: Path) -> None:
    handler = environment(tmp_path)
    try:
        with pytest.raises(InvocationError, match=r"^Runtime.MarshalError: Object of type datetime"):
            handler(event("unsendable"), LocalContext("test", 30.0))
        assert handler(event("ok"), LocalContext("test", 30.0)) == {"batchItemFailures": []}
        assert len({entry["pid"] for entry in seen(tmp_path / "seen.jsonl")}) == 1  # the same process answered
    finally:
        handler.close()


def test_half_an_answer_is_a_crash_and_the_environment_is_not_used_again(tmp_path: Path) -> None:
    handler = environment(tmp_path)
    handler.process = subprocess.Popen(  # an environment that dies in the middle of writing its answer
        [sys.executable, "-c", 'import sys; sys.stdout.write(\'{"response": {"batchItemF\'); sys.stdout.flush()'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )

    with pytest.raises(InvocationError, match=r"^Runtime exited with error"):
        handler(event("ok"), LocalContext("test", 30.0))
    with pytest.raises(InvocationError, match="the environment is gone"):
        handler(event("ok"), LocalContext("test", 30.0))
    assert not handler.alive


def test_an_environment_whose_parent_is_killed_mid_batch_exits_too(tmp_path: Path) -> None:
    parent = subprocess.Popen(  # a runtime of its own, killed while its environment hangs in a batch
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; "
            "from recount.local.environment import ProcessEnvironment; from recount.local.event_source import "
            "LocalContext; environment = ProcessEnvironment('test', 'tests.integration.local.process_handler', "
            f"dict(os.environ, SEEN_FILE={str(tmp_path / 'seen.jsonl')!r}), Path({str(tmp_path / 'env.log')!r})); "
            "environment({'Records': [{'messageId': 'm', 'body': 'hang', "
            "'attributes': {'ApproximateReceiveCount': '1'}}]}, LocalContext('test', 300.0))",
        ],
        cwd=ROOT,
    )
    try:
        assert wait_until(lambda: len(seen(tmp_path / "seen.jsonl")) == 1, timeout_s=30)
    finally:
        parent.kill()
        parent.wait()
    child = psutil.Process(seen(tmp_path / "seen.jsonl")[0]["pid"])

    assert wait_until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, timeout_s=10)
