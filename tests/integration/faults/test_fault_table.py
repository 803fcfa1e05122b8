"""Faults injected into the real inbox counts function (moto's SQS and DynamoDB, real PostgreSQL and Redis), one
scenario per row of the fault table printed at the end of the session (conftest.py).

Every message a scenario sends is followed to its end: `done` (an invocation succeeded for it: recomputed,
skipped as duplicate / clean / coalesced) or a dead-letter queue (at once with a `recount-reason` attribute, or
moved there by the queue's redrive policy after maxReceiveCount receives, with `failed` and `lastError` in the
status blob). `lost` counts the messages that are neither, and must be 0. `survived` counts the messages that
ended where they should: valid messages done, after the fault was lifted and they were redelivered, with their
workspace correct (counts equal to a fresh computation, no dirty mark, version 1, a final status carrying it);
poison dead-lettered at once with the expected reason.

How each fault is made:

* Redis down, PostgreSQL down: the function reaches them through a `recount.chaos.ToggleProxy`; `down()` cuts the
  open connections and refuses new ones (a real outage, not a mock).
* Backend killed mid-transaction: `pg_terminate_backend` on the function's backend while its recompute statement
  waits on a row lock the test holds on the workspace's InboxCountsDirty row.
* DynamoDB throttled: moto cannot throttle, so the throttling response DynamoDB sends
  (HTTP 400 ProvisionedThroughputExceededException) is injected where moto itself answers, by a `before-send`
  handler on the function's own DynamoDB client; botocore's retries and Powertools run unchanged on it. The same
  way, "DynamoDB unreachable" raises botocore's EndpointConnectionError for every request.
* A function timing out with its idempotency record in progress: the invocation runs for real with a 1.5 s
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
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from moto.core.botocore_stubber import MockRawResponse

from recount.dead_letters import redrive
from recount.local.event_source import LocalContext
from recount.operations import Verdict, verify_workspace
from recount.targets import Target
from shared.events import MAX_ENVELOPE_BYTES, EventName, new_event, to_body
from shared.sqs import REASON_ATTRIBUTE
from tests.builders import Workspace
from tests.integration.faults.table import ROWS, FaultRow, record
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import (
    REGION,
    Rig,
    backend_pid,
    invoke_blocked,
    restore_table,
    table_items,
)
from tests.oracle import inbox_counts

FIXTURES = Path(__file__).parents[2] / "fixtures"
CORPUS: list[dict[str, str]] = [
    *json.loads((FIXTURES / "poison_messages.json").read_text(encoding="utf-8")),
    *json.loads((FIXTURES / "poison_messages_more.json").read_text(encoding="utf-8")),
]
SETTLE_TIMEOUT_S = 30.0
TIMEOUT_S = 1.5  # the deadline of the invocation that times out (TIME_BUDGET_MARGIN_MS is 500 in the rig)


def reason_class(reason: str) -> str:
    """A dead-letter reason grouped for the table: 'not JSON', 'invalid data.clientId', ..."""
    head, _, rest = reason.partition(":")
    if head.startswith("invalid ") and rest:
        return "invalid " + rest.strip().split(":")[0]
    for prefix in ("unknown event name", "unsupported version", "oversize", "not JSON", "not an envelope"):
        if reason.startswith(prefix):
            return prefix
    if "is not handled by" in reason:
        return "an event for another function"
    return head[:48]


@dataclass
class Journey:
    """One message (identified by its body: every body of a scenario is distinct) and what happened to it."""

    body: str
    client_id: str | None
    expected_reason: str | None  # set for poison: a substring of the reason it must be dead-lettered with
    stations: list[str] = field(default_factory=list)
    end: str | None = None  # "done" or "dead-lettered"
    reason: str = ""
    at_once: bool = False

    def path(self) -> str:
        compressed: list[str] = []
        counts: list[int] = []
        for station in self.stations:
            if compressed and compressed[-1] == station:
                counts[-1] += 1
            else:
                compressed.append(station)
                counts.append(1)
        parts = [station if n == 1 else f"{station} x{n}" for station, n in zip(compressed, counts, strict=True)]
        return " -> ".join(parts) if parts else "never delivered"


class Ledger:
    """Sends a scenario's messages, delivers them as Lambda's event source would, and follows each to its end."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.aws = rig.aws
        self.journeys: dict[str, Journey] = {}

    def inject(self, body: str, *, client_id: str | None = None, reason: str | None = None) -> None:
        assert body not in self.journeys, "bodies identify messages: make them distinct"
        self.journeys[body] = Journey(body, client_id, reason)
        self.aws.send("counts", body)

    def deliver(self, queue: str = "counts", *, size: int = 10, context: Any = None) -> dict[str, Any]:
        event = self.aws.receive_event(queue, size)
        if event["Records"]:
            mark = len(self.rig.function.sqs.log)
            self.account(event, self.rig.function.invoke(event, context), queue, mark)
        return event

    def account(self, event: dict[str, Any], response: dict[str, Any], queue: str, mark: int) -> set[str]:
        """Note where each record of an invocation went, and delete the successes (as the event source does)."""
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        sends = [kwargs for operation, kwargs in self.rig.function.sqs.log[mark:] if operation == "send_message"]
        dead = {kwargs["MessageBody"] for kwargs in sends if kwargs["QueueUrl"] == self.aws.queues[queue].dlq_url}
        copies = {kwargs["MessageBody"] for kwargs in sends if kwargs["QueueUrl"] == self.aws.queues[queue].url}
        for record_ in event["Records"]:
            journey = self.journeys[record_["body"]]
            if record_["body"] in dead:
                journey.stations.append("dead-lettered at once")
                journey.at_once = True
            elif record_["messageId"] in failed:
                journey.stations.append("retry")
            elif record_["body"] in copies:
                journey.stations.append("busy: delayed copy")
            else:
                journey.stations.append("done")
                journey.end = "done"
            if record_["messageId"] not in failed:
                self.aws.sqs.delete_message(QueueUrl=self.aws.queues[queue].url, ReceiptHandle=record_["receiptHandle"])
        return failed

    def settle(self) -> None:
        """Deliver until nothing is visible, in flight or delayed (backoffs fast-forwarded, delays waited out),
        then read every dead-letter queue."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            assert time.monotonic() < deadline, "the queues did not settle"
            delivered = False
            for queue in ("counts", "counts_high"):
                self.aws.make_visible(queue)
                while self.deliver(queue)["Records"]:
                    delivered = True
            if delivered:
                continue
            if any(self.aws.delayed(self.aws.queues[queue].url) or self.aws.depth(self.aws.queues[queue].url) != (0, 0)
                   for queue in ("counts", "counts_high")):
                time.sleep(0.1)
                continue
            break
        self.collect_dead_letters()

    def collect_dead_letters(self) -> None:
        for queue in self.aws.queues.values():
            for message in self.aws.drain(queue.dlq_url):
                journey = self.journeys[message["Body"]]
                reason = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue")
                if reason is None:  # moved by the redrive policy: the reason is in the status blob, if anywhere
                    status = self.status(journey.client_id)
                    journey.stations.append(f"DLQ after {self.aws.max_receive_count} receives")
                    reason = (f"no reason attribute; status {status.get('status')}: {status.get('lastError')}"
                              if status else "no reason attribute, no status blob")
                journey.end, journey.reason = "dead-lettered", reason

    def status(self, client_id: str | None) -> dict[str, Any] | None:
        if client_id is None:
            return None
        text = self.rig.raw_redis.get(f"job:v1:{client_id}:inbox_counts")
        return json.loads(text) if text else None

    def row(self, scenario: str, fault: str) -> FaultRow:
        problems = {client_id: workspace_problems(self.rig, client_id)
                    for client_id in {j.client_id for j in self.journeys.values() if j.expected_reason is None}
                    if client_id is not None}
        survived = 0
        where: Counter[str] = Counter()
        for journey in self.journeys.values():
            if journey.expected_reason is None:
                survived += journey.end == "done" and not problems.get(journey.client_id or "", [])
                where[journey.path()] += 1
            else:
                survived += (journey.end == "dead-lettered" and journey.at_once
                             and journey.expected_reason in journey.reason)
                where[f"{journey.path()} ({reason_class(journey.reason)})"] += 1
        lost = sum(journey.end is None for journey in self.journeys.values())
        row = record(FaultRow(scenario, fault, len(self.journeys), survived, lost, where))
        assert not any(problems.values()), problems
        return row


def workspace_problems(rig: Rig, client_id: str, version: int = 1) -> list[str]:
    """What is wrong with a workspace after its messages were handled (an empty list when nothing is)."""
    db = rig.observer
    problems = []
    if db.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id', id=client_id):
        problems.append("a dirty mark is left")
    leads = db.run('SELECT * FROM "Lead" WHERE "clientId" = :id', id=client_id)
    now = db.run("SELECT statement_timestamp() AT TIME ZONE 'UTC' AS now")[0]["now"]
    if Workspace(db, client_id).counts() != inbox_counts(leads, [], [], now):
        problems.append("counts differ from a fresh computation")
    verdict = verify_workspace(db, client_id)
    if verdict.verdict is not Verdict.OK:
        problems.append(f"verify: {verdict.verdict} {verdict.detail}")
    found = int(rig.raw_redis.get(f"inbox:v1:ver:{client_id}") or 0)
    if found != version:
        problems.append(f"version {found}, expected {version}")
    status = json.loads(rig.raw_redis.get(f"job:v1:{client_id}:inbox_counts") or "{}")
    if status.get("status") not in ("succeeded", "skipped") or status.get("version") != version:
        problems.append(f"status {status.get('status')} with version {status.get('version')}")
    return problems


def dirty_workspaces(rig: Rig, n: int) -> list[Workspace]:
    """n workspaces with two leads each and the app's dirty mark."""
    created = []
    for index in range(n):
        workspace = Workspace.create(rig.app)
        workspace.lead(status="new", sentimentTag="Positive", lastInboundAt=datetime(2026, 1, 2),
                       assignedToUserId="setter-1")
        workspace.lead(status="blacklisted" if index % 2 else "needs_repair")
        workspace.mark_dirty()
        created.append(workspace)
    return created


def untouched(rig: Rig, workspace: Workspace) -> bool:
    """Nothing committed for it: no counts, its mark still there."""
    return workspace.counts() == {} and workspace.dirty_marker() is not None


# -- the scenarios ------------------------------------------------------------------------------------------------
def test_redis_down(redis_rig: Rig) -> None:
    rig = redis_rig
    assert rig.redis_proxy is not None
    ledger = Ledger(rig)
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
    assert row.lost == 0 and row.survived == row.injected


def test_postgres_down(pg_rig: Rig) -> None:
    rig = pg_rig
    assert rig.postgres_proxy is not None
    ledger = Ledger(rig)
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
    assert row.lost == 0 and row.survived == row.injected


def test_postgres_down_past_the_last_attempt(pg_rig: Rig) -> None:
    """Every attempt fails: the queue's redrive moves the message to the DLQ; the operator redrives it back."""
    rig = pg_rig
    assert rig.postgres_proxy is not None
    ledger = Ledger(rig)
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
    target = Target(name="test", queue_urls={key: q.url for key, q in rig.aws.queues.items()},
                    dead_letter_urls={key: q.dlq_url for key, q in rig.aws.queues.items()}, region=REGION)
    moved = redrive(target, "counts", manual=True)
    assert moved.moved == 1
    journey.stations.append("recount dlq redrive")
    ledger.settle()
    row = ledger.row("PostgreSQL down past maxReceiveCount",
                     f"PostgreSQL down for all {rig.aws.max_receive_count} receives; up; `recount dlq redrive`")
    assert row.lost == 0 and row.survived == row.injected


def test_backend_killed_mid_transaction(rig: Rig) -> None:
    ledger = Ledger(rig)
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
    response = invoke_blocked(rig, event, None, pid=pid, act=lambda: killed.append(bool(rig.observer.run(
        "SELECT pg_terminate_backend(:pid) AS done", pid=pid)[0]["done"])))
    assert killed == [True]
    failed = ledger.account(event, response, "counts", mark)
    # The killed transaction left nothing; the other record of the batch went on, on a new connection
    assert [r["body"] for r in event["Records"] if r["messageId"] in failed] == [dirty_body_of(ledger, victim)]
    assert untouched(rig, victim) and workspace_problems(rig, bystander.id) == []
    ledger.settle()
    row = ledger.row("backend killed mid-transaction",
                     "pg_terminate_backend while the recompute statement waits on a held InboxCountsDirty row lock")
    assert row.lost == 0 and row.survived == row.injected


def dirty_body_of(ledger: Ledger, workspace: Workspace) -> str:
    return next(body for body, journey in ledger.journeys.items() if journey.client_id == workspace.id)


def _throttled(request: Any, **kwargs: Any) -> AWSResponse:
    """DynamoDB refuses the request: nothing is written. Every before-send handler runs and the first response
    wins, so moto would still apply the request behind ours: send it to a host moto does not serve."""
    request.url = "https://throttled.invalid/"
    return _throttle_response(request, **kwargs)


def _throttle_response(request: Any, **_: Any) -> AWSResponse:
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                       "message": "The level of configured provisioned throughput for the table was exceeded."})
    return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                          "x-amzn-RequestId": "throttled"}, MockRawResponse(body))


def _unreachable(request: Any, **_: Any) -> None:
    raise EndpointConnectionError(endpoint_url=request.url)


@pytest.mark.parametrize(("scenario", "answer", "fault"), [
    ("DynamoDB throttled", _throttled,
     "every DynamoDB request answered 400 ProvisionedThroughputExceededException, nothing written (moto cannot "
     "throttle: injected at botocore's before-send on the function's client); botocore retries, the job fails"),
    ("DynamoDB unreachable", _unreachable,
     "every DynamoDB request fails with EndpointConnectionError (raised at botocore's before-send)"),
    ("DynamoDB write applied, response lost", _throttle_response,
     "moto applies each PutItem but the client gets a throttling error (an ambiguous write): the in-progress "
     "record exists, so redeliveries are busy until the invocation's 1.5 s deadline, then take the key over"),
], ids=["throttled", "unreachable", "response-lost"])
def test_dynamodb_failing(rig: Rig, scenario: str, answer: Any, fault: str) -> None:
    ledger = Ledger(rig)
    workspaces = dirty_workspaces(rig, 2)
    for workspace in workspaces:
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    calls: list[str] = []

    def fail(request: Any, **kwargs: Any) -> Any:
        calls.append(str(kwargs.get("event_name")))
        return answer(request, **kwargs)

    events = rig.function.runtime.idempotency.persistence.client.meta.events
    events.register_first("before-send.dynamodb", fail)
    context = LocalContext("recount-test", timeout_s=TIMEOUT_S)
    try:
        assert len(ledger.deliver(context=context)["Records"]) == 2
    finally:
        events.unregister("before-send.dynamodb", fail)
    assert all(journey.stations == ["retry"] for journey in ledger.journeys.values())
    assert len(calls) >= 2 and all("PutItem" in call for call in calls), calls  # the in-progress record, retried
    assert all(untouched(rig, workspace) for workspace in workspaces)
    status = ledger.status(workspaces[0].id) or {}
    assert status.get("status") == "failed" and "idempotency store" in status.get("lastError", "")
    ledger.settle()
    row = ledger.row(scenario, f"{fault}; {len(calls)} requests failed")
    assert row.lost == 0 and row.survived == row.injected


def test_timeout_with_the_idempotency_record_in_progress(rig: Rig) -> None:
    ledger = Ledger(rig)
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
    ledger.account(event, invoke_blocked(rig, event, context, pid=pid, act=time_out), "counts", mark)
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
    assert ledger.journeys[second].stations == ["busy: delayed copy"], "an in-progress key is busy, not a failure"
    assert untouched(rig, workspace)
    # After the deadline the key may be taken over: redeliveries run the job once, the other finds it clean
    time.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 0.05)
    ledger.settle()
    row = ledger.row("timeout, idempotency record in progress",
                     f"invocation with a {TIMEOUT_S} s deadline killed mid-recompute, its INPROGRESS record kept; "
                     "a duplicate arrives before the deadline")
    assert row.lost == 0 and row.survived == row.injected


def poison_cases() -> list[dict[str, str]]:
    oversize = json.dumps({"name": "inbox.counts.dirty", "version": 1, "id": "big",
                           "padding": "x" * MAX_ENVELOPE_BYTES})
    huge = json.dumps({"name": "inbox.counts.dirty", "version": 1, "id": "huge", "padding": "y" * 200_000})
    return [*CORPUS,
            {"case": "oversize body (8 KiB + 1)", "body": oversize, "reason": "oversize"},
            {"case": "oversize body (200 KB)", "body": huge, "reason": "oversize"},
            {"case": "a sweep event on the counts queue",
             "body": to_body(new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule")),
             "reason": "inbox.counts.sweep is not handled by the inbox_counts function"},
            {"case": "an analytics event on the counts queue",
             "body": to_body(new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id="acme", source="manual")),
             "reason": "analytics.aggregates.recompute is not handled by the inbox_counts function"}]


def test_poison_corpus(rig: Rig) -> None:
    cases = poison_cases()
    assert len(cases) >= 30
    ledger = Ledger(rig)
    good = dirty_workspaces(rig, 2)
    ledger.inject(dirty_body(good[0].id), client_id=good[0].id)
    for case in cases:
        ledger.inject(case["body"], reason=case["reason"])
    ledger.inject(dirty_body(good[1].id), client_id=good[1].id)
    ledger.settle()
    row = ledger.row(f"poison corpus ({len(cases)} cases + 2 good)",
                     "malformed JSON, unknown names and versions, wrong types, injection strings and control "
                     "characters in clientId, oversize bodies, events for other functions; among good events")
    wrong = [f"{case['case']}: {ledger.journeys[case['body']].reason!r}" for case in cases
             if case["reason"] not in ledger.journeys[case["body"]].reason or not ledger.journeys[case["body"]].at_once]
    assert wrong == []
    retried = [case["case"] for case in cases if "retry" in ledger.journeys[case["body"]].stations]
    assert retried == [], "a poison message must never be retried"
    assert row.lost == 0 and row.survived == row.injected


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the failed record emits no metric
def test_deeply_nested_json_is_dead_lettered_at_once_with_a_reason(rig: Rig) -> None:
    ledger = Ledger(rig)
    [workspace] = dirty_workspaces(rig, 1)
    nested = "[" * 4000 + "]" * 4000
    assert len(nested.encode()) < MAX_ENVELOPE_BYTES
    ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    ledger.inject(nested, reason="nested too deeply")
    ledger.settle()
    journey = ledger.journeys[nested]
    ROWS.append(FaultRow("poison: JSON nested 4000 deep", "'[' * 4000 + ']' * 4000 among a good event",
                         len(ledger.journeys),
                         sum(j.end == "done" for j in ledger.journeys.values() if j.expected_reason is None),
                         sum(j.end is None for j in ledger.journeys.values()),
                         Counter(f"{j.path()}" + (f" ({j.reason})" if j.expected_reason else "")
                                 for j in ledger.journeys.values())))
    assert journey.end == "dead-lettered", "not lost: the redrive policy moves it to the DLQ in the end"
    assert journey.at_once and "nested too deeply" in journey.reason, f"{journey.path()}: {journey.reason}"


def test_no_scenario_lost_a_message() -> None:
    """Runs last in this module: every row of the table lost nothing."""
    if not ROWS:
        pytest.skip("no fault scenario ran in this session")
    assert [(row.scenario, row.lost) for row in ROWS if row.lost] == []
