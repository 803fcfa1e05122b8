"""On `recount local`, poison sent to any of the four queues lands in that queue's own dead-letter queue with
its reason, and `recount dlq peek QUEUE` shows it there: the alarm and the operator look in the right place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from recount.local.pipeline import LocalPipeline
from shared.adapters.sqs import REASON_ATTRIBUTE
from shared.topology import QUEUES

ROOT = Path(__file__).resolve().parents[3]


def test_poison_on_each_queue_lands_in_that_queues_own_dead_letter_queue(
    local: tuple[LocalPipeline, Path],
) -> None:
    pipeline, state = local
    target = pipeline.target
    sqs = boto3.client(
        "sqs",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    # When a body that is not JSON is sent to each queue
    for key, queue in QUEUES.items():
        sqs.send_message(QueueUrl=target.queue_urls[key], MessageBody=f"not json: {queue.name}")
    # Then each lands, at once, in its own queue's dead-letter queue with the reason, and nowhere else
    found: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(found) < len(QUEUES):
        for key in QUEUES:
            if key in found:
                continue
            messages = sqs.receive_message(
                QueueUrl=target.dead_letter_urls[key], MessageAttributeNames=["All"], VisibilityTimeout=0
            ).get("Messages", [])
            if messages:
                found[key] = messages
        time.sleep(0.2)
    assert set(found) == set(QUEUES), f"dead-lettered so far: {sorted(found)}"
    for key, queue in QUEUES.items():
        [message] = found[key]
        assert message["Body"] == f"not json: {queue.name}"
        assert message["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"].startswith("not JSON")
    # and `dlq peek` shows each under its own queue's name
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {"RECOUNT_LOCAL_STATE": str(state), "POWERTOOLS_TRACE_DISABLED": "true"}
    for queue in QUEUES.values():
        result = subprocess.run(
            [sys.executable, "-m", "recount", "dlq", "peek", queue.name, "--json"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        peek = json.loads(result.stdout)
        assert [m["body"] for m in peek["messages"]] == [f"not json: {queue.name}"], queue.name
        assert peek["messages"][0]["reason"].startswith("not JSON")
