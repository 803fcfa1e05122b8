"""The operator commands against the local target: moto's server for SQS (one per session), queues provisioned
per test from cdk.json under a unique prefix, and the real PostgreSQL and Redis of tests/conftest.py."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from recount.commands.targets import Target
from recount.local.provision import LOCAL_REGION, provision, stage_config
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.sqs import REASON_ATTRIBUTE

ROOT = Path(__file__).resolve().parents[3]
# What the subprocess must not inherit: the target file is its only source of URLs and credentials.
_SCRUBBED = (
    "DATABASE_URL",
    "REDIS_URL",
    "COUNTS_QUEUE_URL",
    "COUNTS_HIGH_QUEUE_URL",
    "ANALYTICS_QUEUE_URL",
    "SWEEP_QUEUE_URL",
    "IDEMPOTENCY_TABLE_NAME",
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Operator:
    """One provisioned local target, the CLI run against it, and direct SQS access for the assertions."""

    target: Target
    state_file: Path
    sqs: Any

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            name: value for name, value in os.environ.items() if name not in _SCRUBBED and not name.startswith("AWS_")
        }
        environment |= {
            "RECOUNT_LOCAL_STATE": str(self.state_file),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "COLUMNS": "200",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "recount", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def json(self, *args: str, **env: str) -> Any:
        result = self.run(*args, "--json", **env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def url(self, queue: str, *, dead_letter: bool = False) -> str:
        return self.target.dead_letter_urls[queue] if dead_letter else self.target.queue_urls[queue]

    def depth(self, url: str) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Receive and delete every message; return them."""
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, MessageAttributeNames=["All"]
        ).get("Messages", []):
            messages.extend(batch)
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(batch)
                ],
            )
        return messages

    def bodies(self, queue: str) -> list[dict[str, Any]]:
        return [json.loads(message["Body"]) for message in self.drain(self.url(queue))]

    def empty_except(self, *queues: str) -> bool:
        """Every queue and dead-letter queue other than `queues` holds nothing."""
        urls = [url for key, url in self.target.queue_urls.items() if key not in queues]
        urls += list(self.target.dead_letter_urls.values())
        return all(self.depth(url) == (0, 0) for url in urls)

    def dead_letter(self, queue: str, body: str, reason: str | None = None) -> str:
        attributes = {REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason}} if reason else {}
        return str(
            self.sqs.send_message(
                QueueUrl=self.url(queue, dead_letter=True), MessageBody=body, MessageAttributes=attributes
            )["MessageId"]
        )


@pytest.fixture
def operator(moto_endpoint: str, database_url: str, redis_url: str, db: PostgresDatabase, tmp_path: Path) -> Operator:
    """A fresh local target (its own queues), over an emptied database and Redis."""
    provisioned = provision(
        moto_endpoint,
        stage_config("dev")[1],
        prefix=f"op-{uuid.uuid4().hex[:10]}",
        database_url=database_url,
        redis_url=redis_url,
    )
    state_file = tmp_path / "local.json"
    provisioned.target.save(state_file)
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return Operator(provisioned.target, state_file, sqs)
