"""The sweeper function end to end: it finds due workspaces and enqueues recomputes; it never recomputes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.keys import ANALYTICS_SLO_MISS_KEY, JobName
from shared.contracts.settings import EnvVar, RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.topology import FunctionKey
from tests.builders import Workspace
from tests.integration.functions.conftest import own_dead_letter_queues
from tests.integration.functions.harness import AwsFixture, FunctionUnderTest, Telemetry, load_handler

DIRTY_WORKSPACES = 23
SQS_BATCH = 10


def sweep(function: FunctionUnderTest, name: EventName) -> list[dict[str, Any]]:
    """Send one sweep event through the sweep queue and the sweeper; return the bodies it sent, in order."""
    already = len(function.sqs.log)
    function.aws.send("sweep", to_body(new_event(name, source="schedule")))
    result = function.poll("sweep")
    assert len(result["event"]["Records"]) == 1 and result["failed"] == set()
    batches = [kwargs for op, kwargs in function.sqs.log[already:] if op == "send_message_batch"]
    assert all(len(batch["Entries"]) <= SQS_BATCH for batch in batches)
    assert [op for op, _ in function.sqs.log[already:] if op != "send_message_batch"] == []
    return [json.loads(entry["MessageBody"]) for batch in batches for entry in batch["Entries"]]


def db_now(db: PostgresDatabase) -> datetime:
    return db.run("SELECT statement_timestamp() AT TIME ZONE 'UTC' AS now")[0]["now"]  # type: ignore[no-any-return]


def inbox_rows(db: PostgresDatabase) -> list[dict[str, Any]]:
    return db.run('SELECT "clientId", "scopeUserId", "computedAt", "updatedAt" FROM "InboxCounts" ORDER BY 1, 2')


@pytest.fixture
def disabled_sweeper_function(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    monkeypatch.setenv(str(EnvVar.ANALYTICS_AGGREGATES_ENABLED), "false")  # before the handler reads it
    own_dead_letter_queues(function_env, FunctionKey.SWEEPER, monkeypatch)
    function = FunctionUnderTest(load_handler("sweeper"), function_env)
    yield function
    function.clients.close()


def test_given_dirty_and_snooze_expired_workspaces_when_swept_then_one_recompute_each_and_none_run(
    sweeper_function: FunctionUnderTest,
    inbox_function: FunctionUnderTest,
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    now = db_now(db)
    # Given 23 workspaces marked dirty a minute ago (older than SWEEP_MIN_AGE_SECONDS=0)
    dirty = [Workspace.create(db) for _ in range(DIRTY_WORKSPACES)]
    for ws in dirty:
        ws.lead()
        ws.mark_dirty(dirty_at=now - timedelta(minutes=1))
    # And one workspace computed ten minutes ago while its lead was snoozed; the snooze ended five minutes ago
    snoozed = Workspace.create(db)
    snoozed.lead(snoozedUntil=now - timedelta(minutes=5))
    Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=now - timedelta(minutes=10)).run(
        snoozed.id, JobContext("setup", "test")
    )
    assert snoozed.counts()["global"]["total"] == 0
    setup_version = snoozed.inbox_version()
    assert raw_redis.get(f"inbox:v1:ver:{snoozed.id}") == str(setup_version)
    rows_before = inbox_rows(db)

    # When the inbox sweep runs through the sweeper
    sent = sweep(sweeper_function, EventName.INBOX_COUNTS_SWEEP)

    # Then exactly 24 recompute events, each dirty one carrying its marker's generation
    assert len(sent) == DIRTY_WORKSPACES + 1
    assert {event["name"] for event in sent if event["data"]["clientId"] != snoozed.id} == {"inbox.counts.recompute"}
    by_client = {event["data"]["clientId"]: event for event in sent}
    assert set(by_client) == {ws.id for ws in dirty} | {snoozed.id}
    for ws in dirty:
        assert by_client[ws.id]["data"]["dirtyGeneration"] == (ws.dirty_marker() or {})["generation"]
    snooze_event = by_client[snoozed.id]  # what the clock changed is due: a dirty event, with no generation
    assert snooze_event["name"] == "inbox.counts.dirty" and snooze_event["data"].get("dirtyGeneration") is None
    assert snooze_event["id"].startswith(f"snooze-{snoozed.id}-")
    aws = sweeper_function.aws
    assert aws.depth(aws.queues["counts"].url) == (DIRTY_WORKSPACES + 1, 0)
    # And nothing was recomputed: the InboxCounts rows are exactly as before
    assert inbox_rows(db) == rows_before
    assert telemetry.metric("DirtyBacklog") == DIRTY_WORKSPACES
    assert telemetry.metric("SweepEnqueued") == DIRTY_WORKSPACES + 1

    # When a second sweep runs before any recompute: the snooze event carries the same id
    again = {event["data"]["clientId"]: event for event in sweep(sweeper_function, EventName.INBOX_COUNTS_SWEEP)}
    assert again[snoozed.id]["id"] == snooze_event["id"]
    assert {again[ws.id]["data"]["dirtyGeneration"] for ws in dirty} == {
        by_client[ws.id]["data"]["dirtyGeneration"] for ws in dirty
    }

    # When the inbox function consumes all of it (both sweeps' messages)
    while aws.depth(aws.queues["counts"].url) != (0, 0):
        assert inbox_function.poll("counts")["failed"] == set()
    # Then each workspace was recomputed once and no marker is left
    assert telemetry.metric("JobsSucceeded") == DIRTY_WORKSPACES + 1
    skipped = sum(
        telemetry.metric(name) for name in ("JobsSkippedClean", "JobsSkippedDuplicate", "JobsSkippedCoalesced")
    )
    assert skipped == DIRTY_WORKSPACES + 1
    assert db.run('SELECT count(*)::int AS n FROM "InboxCountsDirty"')[0]["n"] == 0
    assert all(raw_redis.get(f"inbox:v1:ver:{ws.id}") == str(ws.inbox_version()) for ws in dirty)
    expired_version = snoozed.inbox_version()  # once at setup, once for the expired snooze
    assert expired_version > setup_version
    assert raw_redis.get(f"inbox:v1:ver:{snoozed.id}") == str(expired_version)
    assert snoozed.counts()["global"]["total"] == 1
    # And a sweep now finds nothing due
    assert sweep(sweeper_function, EventName.INBOX_COUNTS_SWEEP) == []


def test_given_slo_misses_when_the_analytics_sweep_runs_then_one_recompute_each_and_the_members_removed(
    sweeper_function: FunctionUnderTest, raw_redis: redis.Redis
) -> None:
    valid = ["acme_01", "5f0c2a3e-8d7b-4c1a-9e6f-0a1b2c3d4e5f", "beta-2"]
    raw_redis.zadd(ANALYTICS_SLO_MISS_KEY, {member: score for score, member in enumerate([*valid, "a:b"], 1)})
    sent = sweep(sweeper_function, EventName.ANALYTICS_AGGREGATES_SWEEP)
    # Then one analytics.aggregates.recompute per valid member, in the analytics queue; "a:b" dropped
    assert sorted(event["data"]["clientId"] for event in sent) == sorted(valid)
    assert {event["name"] for event in sent} == {"analytics.aggregates.recompute"}
    aws = sweeper_function.aws
    queued = aws.drain(aws.queues["analytics"].url)
    assert sorted(json.loads(m["Body"])["data"]["clientId"] for m in queued) == sorted(valid)
    assert aws.depth(aws.queues["counts"].url) == (0, 0)
    # And every member it took is removed, the invalid one included
    assert raw_redis.zcard(ANALYTICS_SLO_MISS_KEY) == 0


def test_given_a_miss_reported_again_while_the_analytics_sweep_sends_then_it_stays_for_the_next_sweep(
    sweeper_function: FunctionUnderTest, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two misses in the set, one of which the app reports again while the sweep is sending (the guide's ZADD)
    raw_redis.zadd(ANALYTICS_SLO_MISS_KEY, {"acme_01": 1, "beta-2": 2})
    send = sweeper_function.sqs._call

    def report_again_then_send(operation: str, what: str, **kwargs: Any) -> Any:
        raw_redis.zadd(ANALYTICS_SLO_MISS_KEY, {"beta-2": 3})
        return send(operation, what, **kwargs)

    monkeypatch.setattr(sweeper_function.sqs, "_call", report_again_then_send)
    # When the analytics sweep runs
    sent = sweep(sweeper_function, EventName.ANALYTICS_AGGREGATES_SWEEP)
    # Then both are enqueued, the member not reported since is removed, and the fresh miss waits with its new score
    assert sorted(event["data"]["clientId"] for event in sent) == ["acme_01", "beta-2"]
    assert raw_redis.zrange(ANALYTICS_SLO_MISS_KEY, 0, -1, withscores=True) == [("beta-2", 3.0)]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_given_analytics_disabled_when_the_analytics_sweep_runs_then_nothing_is_sent_and_members_kept(
    disabled_sweeper_function: FunctionUnderTest, raw_redis: redis.Redis
) -> None:
    raw_redis.zadd(ANALYTICS_SLO_MISS_KEY, {"acme_01": 1, "beta-2": 2})
    assert sweep(disabled_sweeper_function, EventName.ANALYTICS_AGGREGATES_SWEEP) == []
    aws = disabled_sweeper_function.aws
    assert aws.depth(aws.queues["analytics"].url) == (0, 0)
    assert raw_redis.zrange(ANALYTICS_SLO_MISS_KEY, 0, -1) == ["acme_01", "beta-2"]


def test_given_a_marker_outside_the_client_id_rule_among_valid_ones_then_the_rest_is_enqueued_and_it_is_named(
    sweeper_function: FunctionUnderTest, db: PostgresDatabase, telemetry: Telemetry
) -> None:
    # Given dirty markers, the oldest of them on a row that predates recount's clientId rule
    old = db_now(db) - timedelta(minutes=5)
    bad = Workspace.create(db, client_id="legacy id; with spaces")
    bad.mark_dirty(dirty_at=old)
    good = [Workspace.create(db) for _ in range(3)]
    for workspace in good:
        workspace.mark_dirty(dirty_at=old + timedelta(seconds=1))
    # When the inbox sweep runs (twice: the bad row must not stop a later sweep either)
    for _ in range(2):
        sent = sweep(sweeper_function, EventName.INBOX_COUNTS_SWEEP)
        # Then every valid workspace is enqueued, the bad one is not, and nothing fails
        assert sorted(body["data"]["clientId"] for body in sent) == sorted(w.id for w in good)
    assert telemetry.metric("InvalidWorkspaceIds") == 2
    warnings = [r for r in telemetry.records() if r.get("level") == "WARNING" and "invalidIds" in r]
    assert len(warnings) == 2 and warnings[0]["invalidIds"] == ["legacy id; with spaces"]
