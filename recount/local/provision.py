"""Create the stack's queues and table in moto's server from the same cdk.json settings as the stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from infra.config import StageConfig, load_stage
from recount.commands.targets import Target
from shared.topology import QUEUES, idempotency_table_name

ROOT = Path(__file__).resolve().parents[2]
LOCAL_REGION = "us-east-1"


def stage_config(stage: str | None = None) -> tuple[str, StageConfig]:
    """The stage's settings from cdk.json: one source of truth for the stack and the local runtime."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return load_stage(context, stage)


def create_idempotency_table(dynamodb: Any, name: str) -> None:
    """The idempotency table as infra/idempotency_table.py declares it: key `id`, on demand, TTL on `expiration`."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )


@dataclass(frozen=True)
class Provisioned:
    target: Target
    visibility_timeouts: dict[str, int]


def aws_client(service: str, endpoint_url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def provision(
    endpoint_url: str,
    config: StageConfig,
    *,
    prefix: str = "recount-local",
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Provisioned:
    """Queues with their DLQs and redrive policies, and the idempotency table; idempotent."""
    sqs = aws_client("sqs", endpoint_url)
    queue_urls: dict[str, str] = {}
    dead_letter_urls: dict[str, str] = {}
    visibility: dict[str, int] = {}
    for key, queue in QUEUES.items():
        dlq_url = sqs.create_queue(
            QueueName=queue.dead_letter_name(prefix), Attributes={"MessageRetentionPeriod": str(14 * 86_400)}
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        visibility[key] = config.visibility_timeout_seconds(config.function(queue.consumer))
        queue_urls[key] = sqs.create_queue(
            QueueName=queue.physical_name(prefix),
            Attributes={
                "VisibilityTimeout": str(visibility[key]),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        dead_letter_urls[key] = dlq_url
    table = idempotency_table_name(prefix)
    dynamodb = aws_client("dynamodb", endpoint_url)
    if table not in dynamodb.list_tables()["TableNames"]:
        create_idempotency_table(dynamodb, table)
    target = Target(
        name="local",
        queue_urls=queue_urls,
        dead_letter_urls=dead_letter_urls,
        idempotency_table=table,
        endpoint_url=endpoint_url,
        region=LOCAL_REGION,
        database_url=database_url,
        redis_url=redis_url,
    )
    return Provisioned(target, visibility)
