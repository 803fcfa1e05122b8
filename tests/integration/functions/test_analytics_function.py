"""The analytics aggregates function end to end: moto queues, real PostgreSQL and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.sqs import REASON_ATTRIBUTE
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.settings import EnvVar
from shared.topology import FunctionKey
from tests.builders import Workspace
from tests.integration.functions.conftest import own_dead_letter_queues
from tests.integration.functions.harness import AwsFixture, FunctionUnderTest, Telemetry, load_handler

WINDOW_DAYS = 30  # ANALYTICS_WINDOW_DAYS default
COUNTS = (
    "leadsCreated",
    "inboundMessages",
    "outboundMessages",
    "respondedLeads",
    "contactedLeads",
    "meetingsBooked",
    "aiSentMessages",
)


@pytest.fixture
def redis_url(either_redis_url: str) -> str:
    """Every test here runs on one Redis node and on a three-master Redis Cluster (found by REDIS_CLUSTER=auto)."""
    return either_redis_url


def recompute_body(client_id: str) -> str:
    return to_body(new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id=client_id, source="manual"))


def status_of(raw_redis: redis.Redis, client_id: str) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(raw_redis.get(f"job:v1:{client_id}:analytics_aggregates") or "{}")
    return status


def stored(db: PostgresDatabase, client_id: str) -> dict[date, dict[str, Any]]:
    rows = db.run('SELECT * FROM "AnalyticsDailyAggregates" WHERE "clientId" = :id ORDER BY day', id=client_id)
    return {row.pop("day"): row for row in rows}


def utc_today(db: PostgresDatabase) -> date:
    return db.run("SELECT (statement_timestamp() AT TIME ZONE 'UTC')::date AS today")[0]["today"]  # type: ignore[no-any-return]


@pytest.fixture
def disabled_analytics_function(
    function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FunctionUnderTest]:
    monkeypatch.setenv(str(EnvVar.ANALYTICS_AGGREGATES_ENABLED), "false")  # before the handler reads it
    own_dead_letter_queues(function_env, FunctionKey.ANALYTICS, monkeypatch)
    function = FunctionUnderTest(load_handler("analytics_recompute"), function_env)
    yield function
    function.clients.close()


def test_given_enabled_when_a_recompute_event_arrives_then_the_window_is_aggregated_and_the_version_bumped(
    analytics_function: FunctionUnderTest,
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    # Given leads and messages today, one lead three days ago and one long before the window
    today = utc_today(db)
    start = datetime.combine(today, time(0, 0, 1))
    fresh = workspace.lead(createdAt=start)
    older = workspace.lead(createdAt=start - timedelta(days=3), appointmentBookedAt=start)
    workspace.lead(createdAt=start - timedelta(days=WINDOW_DAYS + 15))
    workspace.message(fresh, direction="inbound", sent_by=None, sent_at=start)
    workspace.message(older, direction="outbound", sent_by="ai", sent_at=start)
    # When the analytics function consumes one recompute event
    analytics_function.aws.send("analytics", recompute_body(workspace.id))
    assert analytics_function.poll("analytics")["failed"] == set()
    # Then one row per day of the window, today's and three days ago's counted, the rest zero
    rows = stored(db, workspace.id)
    assert sorted(rows) == [today - timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]
    assert {key: rows[today][key] for key in COUNTS} == dict.fromkeys(COUNTS, 1)
    assert {key: rows[today - timedelta(days=3)][key] for key in COUNTS} == {
        **dict.fromkeys(COUNTS, 0),
        "leadsCreated": 1,
    }
    assert sum(row[key] for row in rows.values() for key in COUNTS) == len(COUNTS) + 1
    # And the version bumped once and the status says succeeded
    version = workspace.analytics_version()
    assert raw_redis.get(f"analytics:v1:ver:{workspace.id}") == str(version)
    status = status_of(raw_redis, workspace.id)
    assert status["status"] == "succeeded" and status["version"] == version and status["rowsWritten"] == WINDOW_DAYS
    assert telemetry.metric("JobsSucceeded") == 1
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") is None  # the inbox counts are another job


def test_given_the_same_message_twice_then_one_recompute_one_bump_and_a_skipped_duplicate(
    analytics_function: FunctionUnderTest,
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    body = recompute_body(workspace.id)
    analytics_function.aws.send("analytics", body)
    assert analytics_function.poll("analytics")["failed"] == set()
    first = stored(db, workspace.id)
    first_version = workspace.analytics_version()
    assert raw_redis.get(f"analytics:v1:ver:{workspace.id}") == str(first_version)
    # When the same event (same id) is resent and consumed in another batch
    workspace.lead()  # even with new data, the event was already served: a new change needs a new event
    analytics_function.aws.send("analytics", body)
    assert analytics_function.poll("analytics")["failed"] == set()
    # Then no second recompute and no second bump
    assert stored(db, workspace.id) == first
    assert workspace.analytics_version() == first_version
    assert raw_redis.get(f"analytics:v1:ver:{workspace.id}") == str(first_version)
    status = status_of(raw_redis, workspace.id)
    assert status["status"] == "skipped" and "duplicate" in status["reason"]
    assert telemetry.metric("JobsSucceeded") == 1 and telemetry.metric("JobsSkippedDuplicate") == 1


def test_given_disabled_then_the_event_is_skipped_with_the_reason_and_nothing_written(
    disabled_analytics_function: FunctionUnderTest,
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    aws = disabled_analytics_function.aws
    aws.send("analytics", recompute_body(workspace.id))
    # When the function, loaded with ANALYTICS_AGGREGATES_ENABLED=false, consumes it
    assert disabled_analytics_function.poll("analytics")["failed"] == set()
    # Then skipped (not failed, not dead-lettered), with the reason; no rows, no version
    status = status_of(raw_redis, workspace.id)
    assert status["status"] == "skipped" and "ANALYTICS_AGGREGATES_ENABLED" in status["reason"]
    assert stored(db, workspace.id) == {}
    assert raw_redis.get(f"analytics:v1:ver:{workspace.id}") is None
    assert telemetry.metric("JobsSkippedDisabled") == 1
    assert aws.depth(aws.queues["analytics"].url) == (0, 0) and aws.depth(aws.queues["analytics"].dlq_url) == (0, 0)


def test_given_an_inbox_event_on_the_analytics_queue_then_it_goes_to_the_analytics_dlq(
    analytics_function: FunctionUnderTest, workspace: Workspace
) -> None:
    aws = analytics_function.aws
    aws.send("analytics", to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=workspace.id)))
    assert analytics_function.poll("analytics")["failed"] == set()
    [message] = aws.drain(aws.queues["analytics"].dlq_url)
    reason = message["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"]
    assert reason == "inbox.counts.dirty is not handled by the analytics_aggregates function"
