"""The time budget: a record's work ends before its deadline, and the margin covers what follows it (the
idempotency record's closing write and a failure's decision), so no record runs its invocation out of time
(the whole batch would come back after the visibility timeout, receive counts spent)."""

from __future__ import annotations

import importlib

import pytest

from shared.contracts.errors import PermanentError
from shared.contracts.settings import QueueSettings
from shared.contracts.store_settings import StoreSettings
from shared.contracts.time_budget import (
    CLUSTER_LONGEST_WORK_MS,
    CLUSTER_TIME_BUDGET_MARGIN_MS,
    DEFAULT_AWS_CALL_LIMITS,
    DEFAULT_LONGEST_WORK_MS,
    DEFAULT_REDIS_TIMEOUT_S,
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    REDIS_STEPS_PER_CALL,
    AwsCallLimits,
    check_time_budget,
    decision_reserve_ms,
    longest_work_ms,
    redis_call_bound_s,
)
from shared.wiring.clients import EnvironmentClients


def test_the_default_margin_covers_what_follows_a_record_with_the_default_timeouts() -> None:
    stores, queues = StoreSettings(), QueueSettings()
    assert queues.time_budget_margin_ms == DEFAULT_TIME_BUDGET_MARGIN_MS >= decision_reserve_ms(stores.redis_timeout_s)


@pytest.mark.parametrize(
    ("limits", "bound_s"), [(AwsCallLimits(), 3.0), (AwsCallLimits(1, 3, 2), 14.0), (AwsCallLimits(1, 3, 3), 25.0)]
)
def test_an_aws_call_bound_counts_every_attempt_and_the_backoff_before_each_retry(
    limits: AwsCallLimits, bound_s: float
) -> None:
    assert limits.bound_s == bound_s  # one attempt of 1 s + 2 s; 2 x 4 s + 1 s + 5 s; 3 x 4 s + (1 s + 2 s) + 2 x 5 s


def test_what_follows_the_work_is_one_attempt_of_each_aws_call_and_one_redis_command_of_short_steps() -> None:
    # Given the defaults: AWS calls of one attempt (1 s to connect, 2 s to read), Redis steps of 0.5 s
    limits = DEFAULT_AWS_CALL_LIMITS
    assert (limits.connect_s, limits.read_s, limits.attempts) == (1, 2, 1)
    assert DEFAULT_REDIS_TIMEOUT_S == 0.5
    # A Redis command: two connections of four steps (TCP, TLS, two replies), then the reply: 9 x 0.5 s
    assert REDIS_STEPS_PER_CALL == 9 and redis_call_bound_s(DEFAULT_REDIS_TIMEOUT_S) == 4.5
    # The margin: the closing idempotency write and one SQS call (3 s each), a failure's status, the response, and
    # the cancel of a statement the deadline cut
    assert DEFAULT_TIME_BUDGET_MARGIN_MS == 3_000 + 3_000 + 4_500 + 250 + 500
    # The work: the opening write, a PostgreSQL connect (5 x 2 s), the lock (2 s + a 2 s round trip), the
    # statement (10 s), the running status and the publish
    assert DEFAULT_LONGEST_WORK_MS == 3_000 + 10_000 + 4_000 + 10_000 + 2 * 4_500
    # so a function timeout of 50 s holds one record's worst case, and its queue's visibility (6x) is 300 s
    assert DEFAULT_LONGEST_WORK_MS + DEFAULT_TIME_BUDGET_MARGIN_MS <= 50_000


def test_a_longer_redis_timeout_or_more_aws_attempts_lengthen_both_the_margin_and_the_work() -> None:
    assert decision_reserve_ms(1.0) == DEFAULT_TIME_BUDGET_MARGIN_MS + 9 * 500
    two_attempts = AwsCallLimits(1, 2, 2)  # a second attempt, its backoff (under 1 s) and a retry-after (5 s)
    assert decision_reserve_ms(0.5, two_attempts) == DEFAULT_TIME_BUDGET_MARGIN_MS + 2 * (3_000 + 1_000 + 5_000)
    assert longest_work_ms(10_000, 2_000, 2.0, 1.0) == DEFAULT_LONGEST_WORK_MS + 2 * 9 * 500
    assert longest_work_ms(10_000, 2_000, 1.0, 0.5) == DEFAULT_LONGEST_WORK_MS - 6 * 1_000  # PostgreSQL's own


def test_a_cluster_counts_each_command_redirected_once_and_refreshed_once_and_the_publish_as_two_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One node: 4.5 s a command; the running status and the publish
    assert (DEFAULT_LONGEST_WORK_MS, DEFAULT_TIME_BUDGET_MARGIN_MS) == (36_000, 11_250)
    # A cluster: a command is 3 x 4.5 s + 0.25 s (one redirection, the refresh after a failed connection, the
    # CLUSTERDOWN pause), making the client 3 x 4.5 s. The work: the client, the running status, the bump and
    # the status (54.75 s of Redis instead of 9); a failure's status: the client made again and the command
    # (27.25 s instead of 4.5)
    assert CLUSTER_LONGEST_WORK_MS == 36_000 - 9_000 + 13_500 + 3 * 13_750 == 81_750
    assert CLUSTER_TIME_BUDGET_MARGIN_MS == 11_250 - 4_500 + 13_500 + 13_750 == 34_000
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    with pytest.raises(
        PermanentError,
        match=r"a Redis cluster status write \(the client made again, then the command\) of up to 27.25 s",
    ):
        check_time_budget(StoreSettings(), QueueSettings())
    monkeypatch.setenv("TIME_BUDGET_MARGIN_MS", str(CLUSTER_TIME_BUDGET_MARGIN_MS))
    check_time_budget(StoreSettings(), QueueSettings())


def test_the_aws_limits_are_settings_and_the_margin_check_uses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    queues = QueueSettings()
    assert queues.aws_limits == AwsCallLimits(1.0, 2.0, 3)
    with pytest.raises(PermanentError, match="two AWS calls of up to 22 s each"):
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
    assert "TIME_BUDGET_MARGIN_MS (10000) is less than what may follow a record's work (11250 ms" in message
    assert "\n" not in message


def test_in_lambda_the_defaults_start_and_the_store_urls_are_read_at_init(in_lambda: pytest.MonkeyPatch) -> None:
    clients = EnvironmentClients()
    assert {"db", "versions"} <= set(vars(clients))  # built (no connection yet) before any record's deadline


def test_in_lambda_a_longer_redis_timeout_needs_a_longer_margin(in_lambda: pytest.MonkeyPatch) -> None:
    in_lambda.setenv("REDIS_TIMEOUT_SECONDS", "2")
    with pytest.raises(PermanentError, match="a Redis command of up to 18 s with REDIS_TIMEOUT_SECONDS 2"):
        EnvironmentClients()
    in_lambda.setenv("TIME_BUDGET_MARGIN_MS", "24750")
    EnvironmentClients()


def test_outside_lambda_tests_may_shorten_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-test")
    monkeypatch.setenv("TIME_BUDGET_MARGIN_MS", "500")
    EnvironmentClients()
