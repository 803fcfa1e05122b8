"""moto's real server on loopback, for the event-source emulation and the local runtime."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from recount.local import pipeline as local_pipeline
from recount.local.pipeline import LocalPipeline
from recount.local.provision import aws_client, stage_config
from recount.servers.throwaway import free_port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    return aws_client("sqs", moto_endpoint)


def make_queue(sqs: Any, *, max_receive_count: int = 3, visibility_timeout: int = 30) -> dict[str, str]:
    """A fresh queue with its DLQ; returns url, arn and dlq_url."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"url": url, "arn": arn, "dlq_url": dlq_url}


@pytest.fixture
def local(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalPipeline, Path]]:
    """The local runtime on the test's PostgreSQL and Redis (no schedules), and the state file it wrote."""
    state = tmp_path / "local.json"
    monkeypatch.setattr(local_pipeline, "LOCAL_STATE_FILE", state)
    stage, config = stage_config("dev")
    pipeline = LocalPipeline(stage, config, database_url=database_url, redis_url=redis_url, schedules=False)
    pipeline.log_path = tmp_path / "local.log"
    pipeline.start()
    try:
        yield pipeline, state
    finally:
        pipeline.stop(drain=False)
