"""The time budget: a record's work ends before its deadline, and the margin covers what follows it (the
idempotency record's closing write and a failure's decision), so no record runs its invocation out of time
(the whole batch would come back after the visibility timeout, receive counts spent)."""

from __future__ import annotations

import importlib

import pytest

from shared.contracts.errors import PermanentError
from shared.contracts.settings import QueueSettings, StoreSettings
from shared.contracts.time_budget import (
    CLUSTER_LONGEST_WORK_MS,
    CLUSTER_TIME_BUDGET_MARGIN_MS,
    DEFAULT_LONGEST_WORK_MS,
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    AwsCallLimits,
    check_time_budget,
    decision_reserve_ms,
)
from shared.wiring.clients import EnvironmentClients


def test_the_default_margin_covers_what_follows_a_record_with_the_default_timeouts() -> None:
    stores, queues = StoreSettings(), QueueSettings()
    assert (
        queues.time_budget_margin_ms == DEFAULT_TIME_BUDGET_MARGIN_MS >= decision_reserve_ms(stores.connect_timeout_s)
    )


@pytest.mark.parametrize(
    ("limits", "bound_s"), [(AwsCallLimits(), 14.0), (AwsCallLimits(1, 3, 1), 4.0), (AwsCallLimits(1, 3, 3), 25.0)]
)
def test_an_aws_call_bound_counts_every_attempt_and_the_backoff_before_each_retry(
    limits: AwsCallLimits, bound_s: float
) -> None:
    assert limits.bound_s == bound_s  # 2 x 4 s + 1 s + 5 s; one attempt; 3 x 4 s + (1 s + 2 s) + 2 x 5 s


def test_a_cluster_counts_each_command_redirected_once_and_refreshed_once_and_the_publish_as_two_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One node: 12 s a command (6 steps of the 2 s connect timeout); the running status and the publish
    assert (DEFAULT_LONGEST_WORK_MS, DEFAULT_TIME_BUDGET_MARGIN_MS) == (62_000, 40_250)
    # A cluster: a command is 3 x 12 s + 0.25 s (one redirection, the refresh after a failed connection, the
    # CLUSTERDOWN pause), making the client 3 x 12 s. The work: the client, the running status, the bump and
    # the status (144.75 s of Redis instead of 24); a failure's status: the client made again and the command
    # (72.25 s instead of 12)
    assert CLUSTER_LONGEST_WORK_MS == 62_000 - 24_000 + 36_000 + 3 * 36_250
    assert CLUSTER_TIME_BUDGET_MARGIN_MS == 40_250 - 12_000 + 36_000 + 36_250
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    with pytest.raises(
        PermanentError,
        match=r"a Redis cluster status write \(the client made again, then the command\) of up to 72.25 s",
    ):
        check_time_budget(StoreSettings(), QueueSettings())
    monkeypatch.setenv("TIME_BUDGET_MARGIN_MS", str(CLUSTER_TIME_BUDGET_MARGIN_MS))
    check_time_budget(StoreSettings(), QueueSettings())


def test_the_aws_limits_are_settings_and_the_margin_check_uses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    queues = QueueSettings()
    assert queues.aws_limits == AwsCallLimits(1.0, 3.0, 3)
    with pytest.raises(PermanentError, match="two AWS calls of up to 25 s each"):
        check_time_budget(StoreSettings(), queues)


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "recount-dev-inbox-counts")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-dev-idempotency")
    monkeypatch.setenv("DATABASE_URL", "postgresql://recount@db.invalid:5432/app")  # read at init, never reached
    monkeypatch.setenv("REDIS_URL", "redis://cache.invalid:6379/0")
    return monkeypatch


def test_in_lambda_a_margin_shorter_than_a_decision_is_refused_at_start_in_one_line(
    in_lambda: pytest.MonkeyPatch,
) -> None:
    in_lambda.setenv("TIME_BUDGET_MARGIN_MS", "10000")
    with pytest.raises(PermanentError) as refused:
        importlib.reload(importlib.import_module("functions.inbox_counts_recompute.handler"))
    message = str(refused.value)
    assert "TIME_BUDGET_MARGIN_MS (10000) is less than what may follow a record's work (40250 ms" in message
    assert "\n" not in message


def test_in_lambda_the_defaults_start_and_the_store_urls_are_read_at_init(in_lambda: pytest.MonkeyPatch) -> None:
    clients = EnvironmentClients()
    assert {"db", "versions"} <= set(vars(clients))  # built (no connection yet) before any record's deadline


def test_in_lambda_a_longer_connect_timeout_needs_a_longer_margin(in_lambda: pytest.MonkeyPatch) -> None:
    in_lambda.setenv("CONNECT_TIMEOUT_SECONDS", "5")
    with pytest.raises(PermanentError, match="CONNECT_TIMEOUT_SECONDS 5"):
        EnvironmentClients()
    in_lambda.setenv("TIME_BUDGET_MARGIN_MS", "58250")
    EnvironmentClients()


def test_outside_lambda_tests_may_shorten_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-test")
    monkeypatch.setenv("TIME_BUDGET_MARGIN_MS", "500")
    EnvironmentClients()
