"""The dead-letter queue an operator names, and the raw SQS calls dlq peek and dlq redrive make on it."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from recount.commands.connections import prepare_aws
from recount.commands.targets import Target
from recount.commands.usage import UsageError
from shared import topology
from shared.adapters.sqs import classify_aws_error
from shared.contracts.errors import RecountError


def queue_key(name: str) -> str:
    """The queue an operator names, by key or by name (`counts_high` or `counts-high`)."""
    key = topology.queue_key(name)
    if key is None:
        raise UsageError(f"unknown queue {name!r}: choose one of {', '.join(topology.QUEUES)}")
    return key.value


def dead_letter_and_source_urls(target: Target, key: str) -> tuple[str, str]:
    """The URLs of the queue's dead-letter queue and of the queue itself."""
    if not target.dead_letter_urls:
        raise RecountError(
            f"target {target.name} has no dead-letter queue URLs: use --stack NAME, or run python -m recount local"
        )
    return target.dead_letter_url(key), target.queue_urls[key]


class DeadLetterSqs:
    """The raw SQS calls these commands need (QueueClient has only what the functions need), each
    translated into a domain error."""

    def __init__(self, target: Target, *, attempts: int = 3) -> None:
        prepare_aws(target)
        self.client: Any = boto3.client(
            "sqs",
            endpoint_url=target.endpoint_url,
            region_name=target.region,
            config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=3, read_timeout=25),
        )

    def __call__(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise classify_aws_error(error, f"sqs {operation.replace('_', ' ')}") from error

    def depth(self, url: str) -> tuple[int, int]:
        attributes = self(
            "get_queue_attributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def arn(self, url: str) -> str:
        return str(self("get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
