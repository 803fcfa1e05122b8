"""The inbox counts function when things go wrong: store outages (a real TCP cut), the last attempt, a
workspace already being recomputed, and an invocation about to time out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from recount.local.event_source import LocalContext
from recount.servers.toggle_proxy import ToggleProxy
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import EnvVar, RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from tests.builders import Workspace
from tests.integration.functions.harness import (
    AwsFixture,
    FunctionUnderTest,
    Telemetry,
    load_handler,
)
from tests.integration.functions.test_inbox_function import dirty_body, status_of, version_of
from tests.unit.fakes import FakeLambdaContext


@pytest.fixture
def outage(
    request: pytest.FixtureRequest,
    function_env: AwsFixture,
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FunctionUnderTest, ToggleProxy]]:
    """The inbox function with one store ("postgres" or "redis") reached through a proxy the test can cut."""
    variable, url = {"postgres": (EnvVar.DATABASE_URL, database_url), "redis": (EnvVar.REDIS_URL, redis_url)}[
        request.param
    ]
    parts = urlsplit(url)
    proxy = ToggleProxy(parts.hostname or "127.0.0.1", parts.port or 0)
    monkeypatch.setenv(
        str(variable),
        urlunsplit(
            parts._replace(netloc=parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}"))
        ),
    )
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)  # reads the proxied URL
    yield function, proxy
    function.clients.close()
    proxy.close()


def warm_up(function: FunctionUnderTest, db: PostgresDatabase) -> None:
    """One successful run first, so the outage cuts connections the function already holds."""
    other = Workspace.create(db)
    other.mark_dirty()
    function.aws.send("counts", dirty_body(other.id))
    assert function.poll("counts")["failed"] == set()
    function.sqs.log.clear()


@pytest.mark.parametrize("outage", ["postgres"], indirect=True)
def test_given_postgres_down_then_back_when_delivered_then_backoff_grows_and_the_third_delivery_succeeds(
    outage: tuple[FunctionUnderTest, ToggleProxy],
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    function, proxy = outage
    warm_up(function, db)
    workspace.lead()
    workspace.mark_dirty()
    message_id = function.aws.send("counts", dirty_body(workspace.id))
    proxy.down()
    # When the first delivery meets the outage: a batch item failure, status failed (attempt 1), backoff 1-2 s
    assert function.poll("counts")["failed"] == {message_id}
    status = status_of(raw_redis, workspace.id)
    assert status is not None and status["status"] == "failed" and status["attempt"] == 1
    assert "postgres unreachable" in status["lastError"]
    first_delay = function.sqs.visibility_changes()[-1]
    assert 1 <= first_delay <= 2
    # When it fails again: attempt 2, a delay in [2, 4], never shorter than the first
    function.aws.make_visible("counts")
    assert function.poll("counts")["failed"] == {message_id}
    second_delay = function.sqs.visibility_changes()[-1]
    assert 2 <= second_delay <= 4 and second_delay >= first_delay
    assert (status_of(raw_redis, workspace.id) or {})["attempt"] == 2
    # When PostgreSQL is back, the third delivery succeeds with exactly one version bump
    proxy.up()
    function.aws.make_visible("counts")
    third = function.poll("counts")
    assert third["failed"] == set()
    assert third["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "3"
    version = workspace.inbox_version()
    assert version_of(raw_redis, workspace.id) == str(version)
    assert workspace.dirty_marker() is None and workspace.counts()["global"]["total"] == 1
    status = status_of(raw_redis, workspace.id) or {}
    assert status["status"] == "succeeded" and status["attempt"] == 3 and status["version"] == version
    assert function.sqs.visibility_changes() == [first_delay, second_delay]
    assert telemetry.metric("JobsRetried") == 2 and telemetry.metric("JobsSucceeded") == 2  # with the warm-up
    assert telemetry.logs("ERROR") == []
    assert function.aws.depth(function.aws.queues["counts"].url) == (0, 0)


@pytest.mark.parametrize("outage", ["redis"], indirect=True)
def test_given_redis_down_then_back_when_delivered_then_one_failure_then_success_with_its_stamps_version(
    outage: tuple[FunctionUnderTest, ToggleProxy],
    workspace: Workspace,
    db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    function, proxy = outage
    warm_up(function, db)
    workspace.lead()
    workspace.mark_dirty()
    message_id = function.aws.send("counts", dirty_body(workspace.id))
    proxy.down()
    assert function.poll("counts")["failed"] == {message_id}
    assert 1 <= function.sqs.visibility_changes()[-1] <= 2
    assert workspace.counts() == {} and workspace.dirty_marker() is not None  # rolled back: nothing written
    proxy.up()
    function.aws.make_visible("counts")
    assert function.poll("counts")["failed"] == set()
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version())
    assert (status_of(raw_redis, workspace.id) or {})["status"] == "succeeded"
    assert workspace.dirty_marker() is None and workspace.counts()["global"]["total"] == 1
    assert telemetry.metric("JobsRetried") == 1 and telemetry.metric("JobsSucceeded") == 2  # with the warm-up


@pytest.mark.parametrize("outage", ["postgres"], indirect=True)
def test_given_postgres_down_on_every_attempt_when_the_last_fails_then_final_failure_and_redrive_to_the_dlq(
    outage: tuple[FunctionUnderTest, ToggleProxy], workspace: Workspace, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    function, proxy = outage
    body = dirty_body(workspace.id)
    message_id = function.aws.send("counts", body)
    proxy.down()
    for attempt in range(1, function.aws.max_receive_count + 1):  # MAX_RECEIVE_COUNT is 3
        function.aws.make_visible("counts")
        delivery = function.poll("counts")
        assert delivery["failed"] == {message_id}
        assert delivery["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] == str(attempt)
    # Then the status says failed at attempt 3, one ERROR line carries lastError, one JobsDeadLettered
    status = status_of(raw_redis, workspace.id) or {}
    assert status["status"] == "failed" and status["attempt"] == 3 and "postgres" in status["lastError"]
    errors = telemetry.logs("ERROR")
    assert len(errors) == 1 and errors[0]["message"].startswith("final attempt failed")
    assert errors[0]["lastError"] == status["lastError"] and errors[0]["attempt"] == 3
    assert telemetry.metric("JobsDeadLettered") == 1 and telemetry.metric("JobsRetried") == 2
    assert function.sqs.visibility_changes()[-1] == 0  # handed to the redrive at once
    # When the queue is polled again, its redrive policy moves the message to the counts DLQ
    assert function.aws.receive_event("counts")["Records"] == []
    dead = function.aws.drain(function.aws.queues["counts"].dlq_url)
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(message_id, body)]


def test_given_the_workspace_is_being_recomputed_then_a_delayed_copy_not_a_failure(
    inbox_function: FunctionUnderTest,
    workspace: Workspace,
    other_db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    holder = Recompute(JobName.INBOX_COUNTS, other_db, cache, settings)
    lease = holder.begin(workspace.id, JobContext(request_id="holder", source="manual"))
    try:
        body = dirty_body(workspace.id)
        inbox_function.aws.send("counts", body)
        assert inbox_function.poll("counts")["failed"] == set()
        counts_url = inbox_function.aws.queues["counts"].url
        sends = [kwargs for op, kwargs in inbox_function.sqs.log if op == "send_message"]
        assert len(sends) == 1 and sends[0]["QueueUrl"] == counts_url and sends[0]["MessageBody"] == body
        delay = sends[0]["DelaySeconds"]
        assert 1 <= delay <= 2  # BUSY_DELAY_SECONDS=1: between 1x and 2x
        assert inbox_function.aws.delayed(counts_url) == 1
        assert inbox_function.sqs.visibility_changes() == []
        assert telemetry.logs("ERROR") == [] and telemetry.metric("JobsBusy") == 1
        assert (status_of(raw_redis, workspace.id) or {})["requestId"] == "holder"  # the holder's blob stays
    finally:
        holder.abandon(lease)
    # When the delay has passed, the copy runs and succeeds
    time.sleep(delay + 0.1)
    assert inbox_function.poll("counts")["failed"] == set()
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version()) and workspace.dirty_marker() is None


def test_given_too_little_time_left_then_every_record_is_handed_back_untouched(
    inbox_function: FunctionUnderTest, db: PostgresDatabase, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    workspaces = [Workspace.create(db) for _ in range(2)]
    for ws in workspaces:
        ws.lead()
        ws.mark_dirty()
    ids = {inbox_function.aws.send("counts", dirty_body(ws.id)) for ws in workspaces + workspaces[:1]}
    # When the invocation has 1 s left and the margin is 5 s
    result = inbox_function.poll("counts", FakeLambdaContext(remaining_ms=1000))
    # Then every record failed back to the queue at visibility 0, and nothing was written anywhere
    assert result["failed"] == ids
    assert inbox_function.sqs.visibility_changes() == [0, 0, 0]
    assert telemetry.metric("RecordsHandedBack") == 3
    for ws in workspaces:
        assert status_of(raw_redis, ws.id) is None and version_of(raw_redis, ws.id) is None
        assert ws.counts() == {} and ws.dirty_marker() is not None
    assert inbox_function.aws.depth(inbox_function.aws.queues["counts"].url) == (3, 0)


def test_given_a_record_whose_work_outlasts_the_invocation_then_its_deadline_hands_it_back_in_time(
    function_env: AwsFixture,
    workspace: Workspace,
    other_db: PostgresDatabase,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a lock wait allowed to last 8 s, and the workspace's dirty mark locked by another transaction
    monkeypatch.setenv(str(EnvVar.REDIS_TIMEOUT_SECONDS), "0.3")  # a Redis command may take 2.7 s
    monkeypatch.setenv(str(EnvVar.LOCK_TIMEOUT_MS), "8000")
    monkeypatch.setenv(str(EnvVar.STATEMENT_TIMEOUT_MS), "9000")
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    workspace.lead()
    workspace.mark_dirty()
    other_db.run("BEGIN")
    assert other_db.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id FOR UPDATE', id=workspace.id)
    try:
        message_id = function.aws.send("counts", dirty_body(workspace.id))
        # When an invocation with 9 s left takes it (the margin is 5 s: 4 s for the work)
        context = LocalContext("recount-test", timeout_s=9)
        started = time.monotonic()
        result = function.poll("counts", context)
        elapsed = time.monotonic() - started
    finally:
        other_db.rollback()
        function.clients.close()
    # Then the lock wait was cut at the record's deadline, not at its 8 s lock timeout: the invocation ends in
    # time, the record is handed back untouched (no failed status, no delayed copy), nothing was written
    assert 3.9 < elapsed < 9 - 0.25
    assert result["failed"] == {message_id}
    assert function.sqs.visibility_changes() == [0]
    assert [op for op, _ in function.sqs.log if op == "send_message"] == []
    assert telemetry.metric("RecordsHandedBack") == 1 and telemetry.metric("JobsFailed") == 0
    assert (status_of(raw_redis, workspace.id) or {}).get("status") != "failed"
    assert workspace.counts() == {} and workspace.dirty_marker() is not None
    assert "postgres" in telemetry.logs("INFO")[-1]["reason"]
    # and the next delivery, with the workspace free, runs it (the in-progress idempotency record was removed)
    again = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    try:
        assert again.poll("counts")["failed"] == set()
    finally:
        again.clients.close()
    assert workspace.dirty_marker() is None
    assert (status_of(raw_redis, workspace.id) or {}).get("status") == "succeeded"


def test_given_every_receive_is_handed_back_for_lack_of_time_then_the_message_is_not_dead_lettered(
    inbox_function: FunctionUnderTest, workspace: Workspace, raw_redis: redis.Redis, telemetry: Telemetry
) -> None:
    workspace.mark_dirty()
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    # When every invocation that receives it is about to time out (hand-backs set visibility 0 themselves)
    for _ in range(inbox_function.aws.max_receive_count - 1):
        assert len(inbox_function.poll("counts", FakeLambdaContext(remaining_ms=1000))["failed"]) == 1
    # Then on its last receive it is not failed but re-sent as a fresh copy (receive count starts over)
    last = inbox_function.poll("counts", FakeLambdaContext(remaining_ms=1000))
    assert last["failed"] == set()
    assert inbox_function.aws.drain(inbox_function.aws.queues["counts"].dlq_url) == []
    # and the copy still does the work when an invocation has time
    assert inbox_function.poll("counts")["failed"] == set()
    assert workspace.dirty_marker() is None
    assert (status_of(raw_redis, workspace.id) or {}).get("status") == "succeeded"
    assert telemetry.logs("ERROR") == []


def test_given_no_time_to_send_the_fresh_copy_on_the_last_receive_then_the_loss_to_the_redrive_is_an_error(
    inbox_function: FunctionUnderTest, workspace: Workspace, telemetry: Telemetry
) -> None:
    workspace.mark_dirty()
    message_id = inbox_function.aws.send("counts", dirty_body(workspace.id))
    for _ in range(inbox_function.aws.max_receive_count - 1):
        assert inbox_function.poll("counts", FakeLambdaContext(remaining_ms=1000))["failed"] == {message_id}
    # When the last receive comes with less time than one SQS call may take (0.35 s left, a call up to 0.5 s)
    last = inbox_function.poll("counts", FakeLambdaContext(remaining_ms=600))
    # Then the record fails to the queue's redrive, and that is said as the final failure it is
    assert last["failed"] == {message_id}
    [error] = telemetry.logs("ERROR")
    assert "out of time on the last receive, and the fresh copy could not be sent" in error["message"]
    assert telemetry.metric("JobsDeadLettered") == 1
    # (it stays in flight until its visibility timeout; the redrive moves it on the next receive after that)
    assert inbox_function.aws.depth(inbox_function.aws.queues["counts"].url) == (0, 1)


def test_given_poison_with_little_work_time_left_then_it_is_still_dead_lettered_in_the_margin(
    inbox_function: FunctionUnderTest, telemetry: Telemetry
) -> None:
    inbox_function.aws.send("counts", "not json")
    # When the record gets 0.3 s of work time (the margin is 5 s) and a dead-letter send may take 0.5 s
    assert inbox_function.poll("counts", FakeLambdaContext(remaining_ms=5300))["failed"] == set()
    # Then the send runs after the work, in the margin: the message is in the DLQ with its reason
    [dead] = inbox_function.aws.drain(inbox_function.aws.queues["counts"].dlq_url)
    assert dead["Body"] == "not json" and telemetry.metric("JobsDeadLettered") == 1


def test_given_the_idempotency_table_unreachable_then_the_record_is_retried_not_dead_lettered(
    function_env: AwsFixture, workspace: Workspace, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function whose idempotency table cannot be used (DynamoDB refuses: a store failure)
    monkeypatch.setenv(str(EnvVar.IDEMPOTENCY_TABLE_NAME), "recount-no-such-table")
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    try:
        workspace.mark_dirty()
        function.aws.send("counts", dirty_body(workspace.id))
        # When delivered, then it is a retry with backoff: failed status, nothing written, nothing dead-lettered
        assert len(function.poll("counts")["failed"]) == 1
        assert 1 <= function.sqs.visibility_changes()[-1] <= 2
        status = status_of(raw_redis, workspace.id) or {}
        assert status.get("status") == "failed" and "idempotency store" in status.get("lastError", "")
        assert workspace.counts() == {} and workspace.dirty_marker() is not None
        assert function.aws.depth(function.aws.queues["counts"].dlq_url) == (0, 0)
    finally:
        function.clients.close()
