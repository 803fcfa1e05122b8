"""Faults injected into the real inbox counts function (moto's SQS and DynamoDB, real PostgreSQL and Redis), one
scenario per row of the fault table printed at the end of the session (conftest.py).

Every message a scenario sends is found afterwards by an observation of its own (ledger.py): an outcome the
function logged for its event id (recomputed, skipped as duplicate / clean, coalesced), a copy left in a queue,
or a dead-letter queue (at once with a `recount-reason` attribute, or moved there by the queue's redrive policy
after maxReceiveCount receives). `lost` counts the messages found nowhere and `twice` those found more than
once; both must be 0, and a test drops the dead-letter path on purpose to see `lost` say so. `survived` counts
the messages found once where they should be: valid messages applied, after the fault was lifted, with their
workspace correct (counts equal to a fresh computation, no dirty mark, the version its change stamp stands
for, a final status carrying it); poison dead-lettered at once with the expected reason.

How each fault is made:

* Redis down, PostgreSQL down: the function reaches them through a `recount.servers.toggle_proxy.ToggleProxy`;
  `down()` cuts the open connections and refuses new ones (a real outage, not a mock).
* Backend killed mid-transaction: `pg_terminate_backend` on the function's backend while its recompute statement
  waits on a row lock the test holds on the workspace's InboxCountsDirty row.
* DynamoDB throttled: moto cannot throttle, so the throttling response DynamoDB sends
  (HTTP 400 ProvisionedThroughputExceededException) is injected where moto itself answers, by a `before-send`
  handler on the function's own DynamoDB client; Powertools runs unchanged on it. The same way, "DynamoDB
  unreachable" raises botocore's EndpointConnectionError for every request. botocore's own retries are bounded
  to one attempt (AWS_MAX_ATTEMPTS=1, as in the whole rig), so each message meets the fault once. Each
  message's fault is noted on it.
* A function timing out with its idempotency record in progress: the invocation runs for real with a 6 s
  deadline (recount.local.event_source.LocalContext, which counts down), so Powertools writes the INPROGRESS
  record with `in_progress_expiration` = that deadline; while its recompute statement waits on a held lock the
  record is copied and the backend terminated (what a Lambda timeout does to its connection). In process, the
  handler survives and cleans up (deletes the record); a timed-out Lambda would not, so the copied record is put
  back. A duplicate of the message arriving before the deadline then finds the key in progress (busy: a delayed
  copy, no failure); after the deadline the key is taken over and the job runs once.
* Poison: tests/fixtures/poison_messages.json and poison_messages_more.json, plus oversize bodies and valid
  events meant for other functions, among good events.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from moto.core.botocore_stubber import MockRawResponse

import shared.domain.jobs
import shared.wiring.failure_path
from recount.commands.dead_letters.redrive import redrive
from recount.commands.targets import Target
from recount.local.event_source import LocalContext
from shared.contracts.events import MAX_ENVELOPE_BYTES, EventName, new_event, to_body
from shared.domain.jobs import JobResult, Skip
from shared.domain.sweep import sweep_inbox
from shared.telemetry import logger, set_emf
from shared.wiring.clients import EnvironmentClients, Given
from tests.builders import Workspace
from tests.integration.faults.ledger import FunctionLogs, Ledger, workspace_problems
from tests.integration.functions.harness import FailoverAtCommit, RecordingQueueClient
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import (
    MARGIN_MS,
    REGION,
    Rig,
    backend_pid,
    invoke_blocked,
    restore_table,
    table_items,
)

FIXTURES = Path(__file__).parents[2] / "fixtures"
CORPUS: list[dict[str, str]] = [
    *json.loads((FIXTURES / "poison_messages.json").read_text(encoding="utf-8")),
    *json.loads((FIXTURES / "poison_messages_more.json").read_text(encoding="utf-8")),
]
TIMEOUT_S = 6.0  # the deadline of the invocation that times out: about 3 s of work after the rig's margin
SHORT_S = 2.5  # an invocation with less time than the rig's margin (3.05 s) but enough for a hand-back


def dirty_workspaces(rig: Rig, n: int) -> list[Workspace]:
    """n workspaces with two leads each and the app's dirty mark."""
    created = []
    for index in range(n):
        workspace = Workspace.create(rig.app)
        workspace.lead(
            status="new", sentimentTag="Positive", lastInboundAt=datetime(2026, 1, 2), assignedToUserId="setter-1"
        )
        workspace.lead(status="blacklisted" if index % 2 else "needs_repair")
        workspace.mark_dirty()
        created.append(workspace)
    return created


def untouched(rig: Rig, workspace: Workspace) -> bool:
    """Nothing committed for it: no counts, its mark still there."""
    return workspace.counts() == {} and workspace.dirty_marker() is not None


# -- the scenarios ------------------------------------------------------------------------------------------------
def test_redis_down(redis_rig: Rig, function_logs: FunctionLogs) -> None:
    rig = redis_rig
    assert rig.redis_proxy is not None
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 3)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    backend_pid(rig.function)  # connections open before the outage, so it cuts live ones
    rig.redis_proxy.down()
    try:
        for _ in range(2):
            rig.aws.make_visible("counts")
            assert len(ledger.deliver()["Records"]) == 3
        assert all(journey.stations == ["retry", "retry"] for journey in ledger.journeys.values())
        assert all(untouched(rig, workspace) for workspace in workspaces)
    finally:
        rig.redis_proxy.up()
    ledger.settle()
    row = ledger.row("Redis down", "TCP proxy to Redis down for two deliveries, then up")
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_postgres_down(pg_rig: Rig, function_logs: FunctionLogs) -> None:
    rig = pg_rig
    assert rig.postgres_proxy is not None
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 3)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    backend_pid(rig.function)
    rig.postgres_proxy.down()
    try:
        for _ in range(2):
            rig.aws.make_visible("counts")
            assert len(ledger.deliver()["Records"]) == 3
        assert all(journey.stations == ["retry", "retry"] for journey in ledger.journeys.values())
        assert all(untouched(rig, workspace) for workspace in workspaces)
    finally:
        rig.postgres_proxy.up()
    ledger.settle()
    row = ledger.row("PostgreSQL down", "TCP proxy to PostgreSQL down for two deliveries, then up")
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_postgres_down_past_the_last_attempt(pg_rig: Rig, function_logs: FunctionLogs) -> None:
    """Every attempt fails: the queue's redrive moves the message to the DLQ; the operator redrives it back."""
    rig = pg_rig
    assert rig.postgres_proxy is not None
    ledger = Ledger(rig, function_logs)
    [workspace] = dirty_workspaces(rig, 1)
    ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    rig.postgres_proxy.down()
    try:
        for _ in range(rig.aws.max_receive_count):
            rig.aws.make_visible("counts")
            assert len(ledger.deliver()["Records"]) == 1
        assert ledger.deliver()["Records"] == []  # this receive makes the queue move it to the DLQ
        assert rig.aws.depth(rig.aws.queues["counts"].dlq_url) == (1, 0)
        status = ledger.status(workspace.id) or {}
        assert status.get("status") == "failed" and "postgres unreachable" in status.get("lastError", "")
        [journey] = ledger.journeys.values()
        journey.stations.append(f"DLQ after {rig.aws.max_receive_count} receives")
    finally:
        rig.postgres_proxy.up()
    target = Target(
        name="test",
        queue_urls={key: q.url for key, q in rig.aws.queues.items()},
        dead_letter_urls={key: q.dlq_url for key, q in rig.aws.queues.items()},
        region=REGION,
    )
    moved = redrive(target, "counts", manual=True)
    assert moved.moved == 1
    journey.stations.append("recount dlq redrive")
    ledger.settle()
    row = ledger.row(
        "PostgreSQL down past maxReceiveCount",
        f"PostgreSQL down for all {rig.aws.max_receive_count} receives; up; `recount dlq redrive`",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_backend_killed_mid_transaction(rig: Rig, function_logs: FunctionLogs) -> None:
    ledger = Ledger(rig, function_logs)
    victim, bystander = dirty_workspaces(rig, 2)
    for workspace in (victim, bystander):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    event = rig.aws.receive_event("counts")
    assert len(event["Records"]) == 2
    pid = backend_pid(rig.function)
    rig.holder.run("BEGIN")
    assert rig.holder.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id FOR UPDATE', id=victim.id)
    mark = len(rig.function.sqs.log)
    killed: list[bool] = []
    response = invoke_blocked(
        rig,
        event,
        None,
        pid=pid,
        act=lambda: killed.append(
            bool(rig.observer.run("SELECT pg_terminate_backend(:pid) AS done", pid=pid)[0]["done"])
        ),
    )
    assert killed == [True]
    failed = ledger.describe(event, response, "counts", mark)
    # The killed transaction left nothing; the other record of the batch went on, on a new connection
    assert [r["body"] for r in event["Records"] if r["messageId"] in failed] == [dirty_body_of(ledger, victim)]
    assert untouched(rig, victim) and workspace_problems(rig, bystander.id) == []
    ledger.settle()
    row = ledger.row(
        "backend killed mid-transaction",
        "pg_terminate_backend while the recompute statement waits on a held InboxCountsDirty row lock",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def dirty_body_of(ledger: Ledger, workspace: Workspace) -> str:
    return next(body for body, journey in ledger.journeys.items() if journey.client_id == workspace.id)


def _throttled(request: Any, **kwargs: Any) -> AWSResponse:
    """DynamoDB refuses the request: nothing is written. Every before-send handler runs and the first response
    wins, so moto would still apply the request behind ours: send it to a host moto does not serve."""
    request.url = "https://throttled.invalid/"
    return _throttle_response(request, **kwargs)


def _throttle_response(request: Any, **_: Any) -> AWSResponse:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
    )
    return AWSResponse(
        request.url,
        400,
        {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "throttled"},
        MockRawResponse(body),
    )


def _unreachable(request: Any, **_: Any) -> None:
    raise EndpointConnectionError(endpoint_url=request.url)


@pytest.mark.parametrize(
    ("scenario", "answer", "fault", "path"),
    [
        (
            "DynamoDB throttled",
            _throttled,
            "every DynamoDB request answered 400 ProvisionedThroughputExceededException, nothing written (moto cannot "
            "throttle: injected at botocore's before-send on the function's client)",
            "PutItem throttled -> retry -> handled -> found: applied (recomputed)",
        ),
        (
            "DynamoDB unreachable",
            _unreachable,
            "every DynamoDB request fails with EndpointConnectionError (raised at botocore's before-send)",
            "PutItem unreachable -> retry -> handled -> found: applied (recomputed)",
        ),
        (
            "DynamoDB write applied, response lost",
            _throttle_response,
            "moto applies each PutItem but the client gets a throttling error (an ambiguous write): the in-progress "
            f"record exists, so redeliveries are busy until the invocation's {TIMEOUT_S} s deadline, then take the key "
            "over",
            "PutItem applied, response lost -> retry -> re-sent as a copy",
        ),
    ],
    ids=["throttled", "unreachable", "response-lost"],
)
def test_dynamodb_failing(
    rig: Rig,
    function_logs: FunctionLogs,
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
    answer: Any,
    fault: str,
    path: str,
) -> None:
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 2)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    met = path.split(" -> ")[0].removeprefix("PutItem ")

    def fail(request: Any, **kwargs: Any) -> Any:
        # The message being handled is the one whose keys the function's logger carries right now
        operation = str(kwargs.get("event_name")).rsplit(".", 1)[-1]
        ledger.journey_of(logger.get_current_keys()["clientId"]).stations.append(f"{operation} {met}")
        return answer(request, **kwargs)

    events = rig.function.clients.idempotency.persistence.client.meta.events
    events.register_first("before-send.dynamodb", fail)
    context = LocalContext("recount-test", timeout_s=TIMEOUT_S)
    try:
        assert len(ledger.deliver(context=context)["Records"]) == 2
    finally:
        events.unregister("before-send.dynamodb", fail)
    # Every message met the fault itself, once (no botocore retry), on the in-progress record's PutItem
    assert [journey.stations for journey in ledger.journeys.values()] == [[f"PutItem {met}", "retry"]] * 2
    assert all(untouched(rig, workspace) for workspace in workspaces)
    for workspace in workspaces:
        status = ledger.status(workspace.id) or {}
        assert status.get("status") == "failed" and "idempotency store" in status.get("lastError", "")
    ledger.settle()
    row = ledger.row(scenario, fault)
    assert all(journey.path().startswith(path) for journey in ledger.journeys.values()), row.where_text()
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_timeout_with_the_idempotency_record_in_progress(rig: Rig, function_logs: FunctionLogs) -> None:
    ledger = Ledger(rig, function_logs)
    [workspace] = dirty_workspaces(rig, 1)
    first = dirty_body(workspace.id)
    ledger.inject(first, client_id=workspace.id)
    event = rig.aws.receive_event("counts")
    pid = backend_pid(rig.function)
    rig.holder.run("BEGIN")
    assert rig.holder.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id FOR UPDATE', id=workspace.id)
    in_progress: list[dict[str, Any]] = []

    def time_out() -> None:
        in_progress.extend(item for item in table_items(rig.aws) if item["status"]["S"] == "INPROGRESS")
        rig.observer.run("SELECT pg_terminate_backend(:pid)", pid=pid)

    mark = len(rig.function.sqs.log)
    context = LocalContext("recount-test", timeout_s=TIMEOUT_S)
    ledger.describe(event, invoke_blocked(rig, event, context, pid=pid, act=time_out), "counts", mark)
    assert len(in_progress) == 1, "Powertools wrote one in-progress record before the recompute statement"
    deadline_ms = int(in_progress[0]["in_progress_expiration"]["N"])
    assert deadline_ms > time.time() * 1000, "the in-progress record expires at the invocation's deadline"
    # What a timed-out Lambda leaves behind: its in-progress record (in process, the handler deleted it on the way out)
    restore_table(rig.aws, in_progress)
    assert untouched(rig, workspace)
    # The app sends the dirty event again (same mark, same generation, same key) and it arrives before the deadline
    second = dirty_body(workspace.id)
    ledger.inject(second, client_id=workspace.id)
    mark = len(rig.function.sqs.log)
    assert len(ledger.deliver()["Records"]) == 1
    assert ledger.journeys[second].stations == ["re-sent as a copy"], "an in-progress key is busy, not a failure"
    assert untouched(rig, workspace)
    # After the deadline the key may be taken over: redeliveries run the job once, the other finds it clean
    time.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 0.05)
    ledger.settle()
    row = ledger.row(
        "timeout, idempotency record in progress",
        f"invocation with a {TIMEOUT_S} s deadline killed mid-recompute, its INPROGRESS record kept; "
        "a duplicate arrives before the deadline",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def poison_cases() -> list[dict[str, str]]:
    oversize = json.dumps(
        {"name": "inbox.counts.dirty", "version": 1, "id": "big", "padding": "x" * MAX_ENVELOPE_BYTES}
    )
    huge = json.dumps({"name": "inbox.counts.dirty", "version": 1, "id": "huge", "padding": "y" * 200_000})
    return [
        *CORPUS,
        {"case": "oversize body (8 KiB + 1)", "body": oversize, "reason": "oversize"},
        {"case": "oversize body (200 KB)", "body": huge, "reason": "oversize"},
        {
            "case": "a sweep event on the counts queue",
            "body": to_body(new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule")),
            "reason": "inbox.counts.sweep is not handled by the inbox_counts function",
        },
        {
            "case": "an analytics event on the counts queue",
            "body": to_body(new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id="acme", source="manual")),
            "reason": "analytics.aggregates.recompute is not handled by the inbox_counts function",
        },
    ]


def test_poison_corpus(rig: Rig, function_logs: FunctionLogs) -> None:
    cases = poison_cases()
    assert len(cases) >= 30
    ledger = Ledger(rig, function_logs)
    good = dirty_workspaces(rig, 2)
    ledger.inject(dirty_body(good[0].id), client_id=good[0].id)
    for case in cases:
        ledger.inject(case["body"], reason=case["reason"])
    ledger.inject(dirty_body(good[1].id), client_id=good[1].id)
    ledger.settle()
    row = ledger.row(
        f"poison corpus ({len(cases)} cases + 2 good)",
        "malformed JSON, unknown names and versions, wrong types, injection strings and control "
        "characters in clientId, oversize bodies, events for other functions; among good events",
    )
    wrong = [
        f"{case['case']}: {ledger.journeys[case['body']].reason!r}"
        for case in cases
        if case["reason"] not in ledger.journeys[case["body"]].reason or not ledger.journeys[case["body"]].at_once
    ]
    assert wrong == []
    retried = [case["case"] for case in cases if "retry" in ledger.journeys[case["body"]].stations]
    assert retried == [], "a poison message must never be retried"
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the failed record emits no metric
def test_deeply_nested_json_is_dead_lettered_at_once_with_a_reason(rig: Rig, function_logs: FunctionLogs) -> None:
    ledger = Ledger(rig, function_logs)
    [workspace] = dirty_workspaces(rig, 1)
    nested = "[" * 4000 + "]" * 4000
    assert len(nested.encode()) < MAX_ENVELOPE_BYTES
    ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    ledger.inject(nested, reason="nested too deeply")
    ledger.settle()
    row = ledger.row("poison: JSON nested 4000 deep", "'[' * 4000 + ']' * 4000 among a good event")
    journey = ledger.journeys[nested]
    assert journey.found == ["DLQ"], journey.path()
    assert journey.at_once and "nested too deeply" in journey.reason, f"{journey.path()}: {journey.reason}"
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_a_dead_letter_path_that_drops_messages_shows_in_the_table_as_lost(
    rig: Rig, function_logs: FunctionLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The accounting's own check: poison silently dropped instead of dead-lettered (the record deleted as
    handled, nothing sent, nothing logged) must be counted lost, although the handler reported no failure."""
    monkeypatch.setattr(shared.wiring.failure_path, "dead_letter", lambda *args, **kwargs: None)
    ledger = Ledger(rig, function_logs)
    [workspace] = dirty_workspaces(rig, 1)
    ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    poison = CORPUS[:3]
    for case in poison:
        ledger.inject(case["body"], reason=case["reason"])
    ledger.settle()
    row = ledger.tally(
        "mutation: the dead-letter path drops", "shared.wiring.failure_path.dead_letter replaced by a no-op"
    )
    assert all(ledger.journeys[case["body"]].stations == ["handled"] for case in poison), row.where_text()
    assert (row.injected, row.lost, row.survived, row.duplicated) == (4, 3, 1, 0), row.where_text()


def test_a_job_that_claims_an_outcome_without_doing_the_work_shows_in_the_table_as_lost(
    rig: Rig, function_logs: FunctionLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of the accounting's check: an outcome logged for a message counts only where the data
    bears it out. Here every job says "skipped: clean" and recomputes nothing."""

    def claims_clean(clients: Any, recompute: Any, lease: Any, key: str) -> JobResult:
        recompute.skip(lease, "clean: claimed")
        return JobResult(lease.client_id, skipped=Skip.CLEAN, reason="clean: claimed")

    monkeypatch.setattr(shared.domain.jobs, "_finish_once", claims_clean)
    ledger = Ledger(rig, function_logs)
    for workspace in dirty_workspaces(rig, 2):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    ledger.settle()
    row = ledger.tally("mutation: jobs claim a skip", "shared.domain.jobs._finish_once skips without recomputing")
    assert all(journey.claims and not journey.found for journey in ledger.journeys.values()), row.where_text()
    assert (row.injected, row.lost, row.survived) == (2, 2, 0), row.where_text()


def test_two_messages_for_one_workspace_in_one_batch_while_postgres_is_down(
    pg_rig: Rig, function_logs: FunctionLogs
) -> None:
    """The second record of a workspace whose first failed in the same batch must fail too, not vanish."""
    rig = pg_rig
    assert rig.postgres_proxy is not None
    ledger = Ledger(rig, function_logs)
    twice, once = dirty_workspaces(rig, 2)
    for workspace in (twice, once, twice):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    backend_pid(rig.function)
    rig.postgres_proxy.down()
    try:
        assert len(ledger.deliver()["Records"]) == 3
        assert all(journey.stations == ["retry"] for journey in ledger.journeys.values())
    finally:
        rig.postgres_proxy.up()
    ledger.settle()
    row = ledger.row(
        "one workspace twice in a batch, PostgreSQL down",
        "three records, two of them for one workspace, in one batch while PostgreSQL is down; then up",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_out_of_time_on_every_receive_up_to_the_last(rig: Rig, function_logs: FunctionLogs) -> None:
    """An invocation with less time left than TIME_BUDGET_MARGIN_MS hands every record back; on a record's last
    receive it is re-sent as a fresh copy instead, so the redrive never dead-letters a valid message."""
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 2)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    for _ in range(rig.aws.max_receive_count):
        rig.aws.make_visible("counts")
        assert len(ledger.deliver(context=LocalContext("recount-test", timeout_s=SHORT_S))["Records"]) == 2
    last = rig.aws.max_receive_count - 1
    expected = ["retry"] * last + ["re-sent as a copy"]
    assert all(journey.stations == expected for journey in ledger.journeys.values()), ledger.journeys
    assert all(untouched(rig, workspace) for workspace in workspaces)
    ledger.settle()
    row = ledger.row(
        "out of time on every receive",
        f"every invocation starts with {SHORT_S} s left (margin {MARGIN_MS / 1000:g} s), "
        f"{rig.aws.max_receive_count} receives; then with time",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_redis_fails_over_to_a_read_only_replica_right_after_the_commit(
    redis_rig: Rig, function_logs: FunctionLogs, read_only_replica: int
) -> None:
    rig = redis_rig
    proxy = rig.redis_proxy
    assert proxy is not None
    primary = proxy.target
    ledger = Ledger(rig, function_logs)
    workspaces = dirty_workspaces(rig, 3)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)

    def fail_over() -> None:
        proxy.down()
        proxy.target = ("127.0.0.1", read_only_replica)
        proxy.up()

    own = rig.function.clients
    rig.function.module.consumer.clients = EnvironmentClients(
        given=Given(sqs=rig.function.sqs, db=FailoverAtCommit(own.db, fail_over))
    )
    try:
        assert len(ledger.deliver()["Records"]) == 3  # the first commits, then every Redis write is refused
    finally:
        proxy.down()
        proxy.target = primary
        proxy.up()
    ledger.settle()
    row = ledger.row(
        "Redis failover after the commit",
        "the Redis endpoint moves to a read-only replica (READONLY) right after the first COMMIT, then back",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_a_workspace_deleted_while_it_is_recomputed(rig: Rig, function_logs: FunctionLogs) -> None:
    ledger = Ledger(rig, function_logs)
    deleted, bystander = dirty_workspaces(rig, 2)
    for workspace in (deleted, bystander):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    ledger.gone.add(deleted.id)
    event = rig.aws.receive_event("counts")
    assert len(event["Records"]) == 2
    pid = backend_pid(rig.function)
    rig.holder.run("BEGIN")  # the app deletes the workspace; it commits while the recompute's write waits on it
    rig.holder.run('DELETE FROM "Client" WHERE id = :id', id=deleted.id)
    mark = len(rig.function.sqs.log)
    response = invoke_blocked(rig, event, None, pid=pid, act=lambda: None, release="COMMIT")
    assert ledger.describe(event, response, "counts", mark) == set()  # a skip and a success: nothing retried
    ledger.settle()
    row = ledger.row(
        "workspace deleted mid-recompute",
        "the app's DELETE of the Client commits while the recompute's write waits on its row (FK 23503)",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row


def test_an_out_of_rule_marker_among_valid_ones(rig: Rig, function_logs: FunctionLogs) -> None:
    # Given valid dirty workspaces behind the oldest marker, one whose id predates the clientId rule
    ledger = Ledger(rig, function_logs)
    bad = Workspace.create(rig.app, client_id="legacy id; with spaces")
    bad.mark_dirty(dirty_at=datetime(2020, 1, 1))
    valid = dirty_workspaces(rig, 3)
    # When the sweeper sweeps (its sends recorded, so every message it enqueues is accounted for)
    sender = RecordingQueueClient()
    sweeper = EnvironmentClients(given=Given(sqs=sender))
    set_emf(False)  # outside a handler: its metrics must not wait in Powertools' buffer for the next flush
    try:
        report = sweep_inbox(sweeper, "fault-table")
    finally:
        set_emf(True)
        sweeper.close()
    assert report.invalid_ids == ("legacy id; with spaces",) and report.enqueued_dirty == len(valid)
    for operation, kwargs in sender.log:
        assert operation == "send_message_batch"
        for entry in kwargs["Entries"]:
            ledger.expect(entry["MessageBody"], client_id=json.loads(entry["MessageBody"])["data"]["clientId"])
    ledger.settle()
    row = ledger.row(
        "an out-of-rule marker among valid ones",
        "the oldest dirty marker's clientId breaks the rule: the sweep skips it and enqueues the rest",
    )
    assert (row.lost, row.duplicated, row.survived, row.injected) == (0, 0, len(valid), len(valid)), row
