"""moto for SQS and DynamoDB (in-process), real PostgreSQL and Redis, and the environment contract."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.contracts.settings import EnvVar
from shared.telemetry import logger
from shared.topology import FUNCTIONS, FunctionKey
from tests.integration.functions.harness import (
    TABLE,
    AwsFixture,
    CurrentStdout,
    FunctionUnderTest,
    Telemetry,
    create_queues,
    create_table,
    environment,
    load_handler,
)

MAX_RECEIVE_COUNT = 3
SETTINGS: dict[EnvVar | str, object] = {
    EnvVar.ANALYTICS_AGGREGATES_ENABLED: "true",
    EnvVar.BACKOFF_BASE_SECONDS: 2,
    EnvVar.BACKOFF_MAX_SECONDS: 120,
    EnvVar.BUSY_DELAY_SECONDS: 1,
    EnvVar.TIME_BUDGET_MARGIN_MS: 5000,
    EnvVar.SWEEP_MIN_AGE_SECONDS: 0,
    EnvVar.CONNECT_TIMEOUT_SECONDS: 1,
    # moto runs in process (no network to wait on or retry over): short AWS bounds keep the deadlines short
    EnvVar.AWS_CONNECT_TIMEOUT_SECONDS: 0.1,
    EnvVar.AWS_READ_TIMEOUT_SECONDS: 0.4,
    EnvVar.AWS_MAX_ATTEMPTS: 1,
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
        queues = create_queues(sqs, MAX_RECEIVE_COUNT)
        create_table(dynamodb, TABLE)
        yield AwsFixture(sqs, dynamodb, queues, TABLE, MAX_RECEIVE_COUNT)


@pytest.fixture
def function_env(
    aws: AwsFixture, database_url: str, redis_url: str, db: object, monkeypatch: pytest.MonkeyPatch
) -> AwsFixture:
    """The environment contract as the stack sets it, for the inbox function (the others swap their DLQ in)."""
    values = environment(aws, FunctionKey.INBOX, database_url, redis_url, SETTINGS)
    for name, value in values.items():
        monkeypatch.setenv(str(name), value)
    return aws


def own_dead_letter_queues(aws: AwsFixture, function: FunctionKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dead-letter queues of the queues this function consumes, as the stack gives them to it."""
    for queue in FUNCTIONS[function].queues:
        monkeypatch.setenv(str(queue.dead_letter_url_variable), aws.queues[queue.key.value].dlq_url)


@pytest.fixture
def inbox_function(function_env: AwsFixture) -> Iterator[FunctionUnderTest]:
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    yield function
    function.clients.close()


@pytest.fixture
def analytics_function(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    own_dead_letter_queues(function_env, FunctionKey.ANALYTICS, monkeypatch)
    function = FunctionUnderTest(load_handler("analytics_recompute"), function_env)
    yield function
    function.clients.close()


@pytest.fixture
def sweeper_function(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    own_dead_letter_queues(function_env, FunctionKey.SWEEPER, monkeypatch)
    function = FunctionUnderTest(load_handler("sweeper"), function_env)
    yield function
    function.clients.close()


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


@pytest.fixture
def redis_proxy(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToggleProxy]:
    """The functions reach Redis through a proxy the test can point elsewhere (a failover's endpoint moving)."""
    proxy = proxy_to(redis_url)
    monkeypatch.setenv(str(EnvVar.REDIS_URL), through(redis_url, proxy))
    yield proxy
    proxy.close()
