"""moto for SQS and DynamoDB (in-process), real PostgreSQL and Redis, and the environment contract."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from shared.contracts.settings import EnvVar
from shared.wiring.telemetry import logger
from tests.integration.functions.harness import (
    AwsFixture,
    CurrentStdout,
    FunctionUnderTest,
    Queue,
    Telemetry,
    load_handler,
)

MAX_RECEIVE_COUNT = 3
QUEUE_NAMES = {
    "counts": "recount-counts",
    "counts_high": "recount-counts-high",
    "analytics": "recount-analytics",
    "sweep": "recount-sweep",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFixture]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        queues = {}
        for key, name in QUEUE_NAMES.items():
            dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            url = sqs.create_queue(
                QueueName=name,
                Attributes={
                    "VisibilityTimeout": "30",
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
                    ),
                },
            )["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            queues[key] = Queue(name, url, arn, dlq_url)
        table = "recount-idempotency"
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield AwsFixture(sqs, dynamodb, queues, table, MAX_RECEIVE_COUNT)


@pytest.fixture
def function_env(
    aws: AwsFixture, database_url: str, redis_url: str, db: object, monkeypatch: pytest.MonkeyPatch
) -> AwsFixture:
    """The environment contract as the stack sets it (the function's own DLQ is the counts DLQ)."""
    values = {
        EnvVar.DATABASE_URL: database_url,
        EnvVar.REDIS_URL: redis_url,
        EnvVar.IDEMPOTENCY_TABLE_NAME: aws.table_name,
        EnvVar.COUNTS_QUEUE_URL: aws.queues["counts"].url,
        EnvVar.COUNTS_HIGH_QUEUE_URL: aws.queues["counts_high"].url,
        EnvVar.ANALYTICS_QUEUE_URL: aws.queues["analytics"].url,
        EnvVar.SWEEP_QUEUE_URL: aws.queues["sweep"].url,
        EnvVar.DEAD_LETTER_QUEUE_URL: aws.queues["counts"].dlq_url,
        EnvVar.MAX_RECEIVE_COUNT: str(aws.max_receive_count),
        EnvVar.ANALYTICS_AGGREGATES_ENABLED: "true",
        EnvVar.BACKOFF_BASE_SECONDS: "2",
        EnvVar.BACKOFF_MAX_SECONDS: "120",
        EnvVar.BUSY_DELAY_SECONDS: "1",
        EnvVar.TIME_BUDGET_MARGIN_MS: "5000",
        EnvVar.SWEEP_MIN_AGE_SECONDS: "0",
        EnvVar.CONNECT_TIMEOUT_SECONDS: "1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "recount-test",
        "POWERTOOLS_METRICS_NAMESPACE": "recount",
    }
    for name, value in values.items():
        monkeypatch.setenv(str(name), value)
    return aws


@pytest.fixture
def inbox_function(function_env: AwsFixture) -> Iterator[FunctionUnderTest]:
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    yield function
    function.runtime.close()


@pytest.fixture
def analytics_function(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    monkeypatch.setenv(str(EnvVar.DEAD_LETTER_QUEUE_URL), function_env.queues["analytics"].dlq_url)
    function = FunctionUnderTest(load_handler("analytics_recompute"), function_env)
    yield function
    function.runtime.close()


@pytest.fixture
def sweeper_function(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    monkeypatch.setenv(str(EnvVar.DEAD_LETTER_QUEUE_URL), function_env.queues["sweep"].dlq_url)
    function = FunctionUnderTest(load_handler("sweeper"), function_env)
    yield function
    function.runtime.close()


@pytest.fixture
def telemetry(capsys: pytest.CaptureFixture[str]) -> Iterator[Telemetry]:
    """Logs and EMF metrics as printed. The Powertools logger keeps the stdout it was created with, so for the
    test its handler writes to whatever sys.stdout is at the time (capsys swaps it per test phase)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous, handler.stream = handler.stream, CurrentStdout()  # not setStream: it flushes a closed capture
    yield Telemetry(capsys)
    handler.stream = previous


def pytest_configure() -> None:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
