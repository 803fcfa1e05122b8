"""The time budget covers the longest a record can take, so a record is never started that could run the
invocation out of time (the whole batch would come back after the visibility timeout, receive counts spent)."""

from __future__ import annotations

import importlib

import pytest

from shared.contracts.errors import PermanentError
from shared.contracts.settings import (
    DEFAULT_TIME_BUDGET_MARGIN_MS,
    QueueSettings,
    StoreSettings,
    longest_record_ms,
)
from shared.wiring.clients import EnvironmentClients


def test_the_default_margin_covers_the_longest_record_with_the_default_timeouts() -> None:
    stores, queues = StoreSettings(), QueueSettings()
    longest = longest_record_ms(stores.statement_timeout_ms, stores.lock_timeout_ms, stores.connect_timeout_s)
    assert queues.time_budget_margin_ms == DEFAULT_TIME_BUDGET_MARGIN_MS >= longest


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "recount-dev-inbox-counts")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-dev-idempotency")
    return monkeypatch


def test_in_lambda_a_margin_shorter_than_one_record_is_refused_at_start_in_one_line(
    in_lambda: pytest.MonkeyPatch,
) -> None:
    in_lambda.setenv("TIME_BUDGET_MARGIN_MS", "10000")  # the old default, under the 15 s statement timeout alone
    with pytest.raises(PermanentError) as refused:
        importlib.reload(importlib.import_module("functions.inbox_counts_recompute.handler"))
    message = str(refused.value)
    assert "TIME_BUDGET_MARGIN_MS (10000) is less than the longest a record can take" in message
    assert "\n" not in message


def test_in_lambda_the_defaults_start(in_lambda: pytest.MonkeyPatch) -> None:
    EnvironmentClients()


def test_in_lambda_longer_store_timeouts_need_a_longer_margin(in_lambda: pytest.MonkeyPatch) -> None:
    in_lambda.setenv("STATEMENT_TIMEOUT_MS", "20000")
    with pytest.raises(PermanentError, match="STATEMENT_TIMEOUT_MS 20000"):
        EnvironmentClients()
    in_lambda.setenv("TIME_BUDGET_MARGIN_MS", "35000")
    EnvironmentClients()


def test_outside_lambda_tests_may_shorten_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-test")
    monkeypatch.setenv("TIME_BUDGET_MARGIN_MS", "500")
    EnvironmentClients()
