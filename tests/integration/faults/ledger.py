"""The fault table's ledger: sends a scenario's messages, delivers them as Lambda's event source would, and
afterwards finds every one of them by an observation that does not come from the handler's reply.

A message is found, by its body (and the event id in it), in:

* `applied`: the function logged an outcome for its event id (`recomputed`, `skipped`, or `coalesced`), captured
  from the function's own logger as CloudWatch would receive it, and the data bears it out: the message's
  workspace ended correct (no dirty mark, counts equal to a fresh computation, version and status published).
  An outcome the data does not bear out is only a claim, and the message counts as lost;
* a queue: a copy still in one of the source queues (visible, in flight or delayed) after settling;
* a dead-letter queue: read from the DLQs themselves, with the `recount-reason` attribute, if any.

`lost` is injected minus found; a message found twice (two outcomes, or an outcome and a DLQ) is `duplicated`.
The path each message took (retry, busy copy, ...) comes from the handler's replies and is only a description.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from recount.commands.verify import Verdict, verify_workspace
from shared.adapters.sqs import REASON_ATTRIBUTE
from shared.contracts.keys import stamp_text, version_for_stamp
from shared.telemetry import logger
from tests.builders import Workspace
from tests.integration.faults.table import FaultRow, record
from tests.integration.model.rig import Rig
from tests.oracle import inbox_counts

SETTLE_TIMEOUT_S = 30.0
OUTCOMES = {
    "recomputed": "recomputed",
    "skipped": "skipped",
    "coalesced with an earlier record of this batch": "coalesced",
}
SOURCE_QUEUES = ("counts", "counts_high")


class FunctionLogs(logging.Handler):
    """Every line the function logs, as the JSON Powertools writes (attached to its logger for one test)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(logger.registered_formatter.format(record)))


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


def event_id_of(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = parsed.get("id") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None


@dataclass
class Journey:
    """One message (identified by its body: every body of a scenario is distinct) and what happened to it."""

    body: str
    client_id: str | None
    expected_reason: str | None  # set for poison: a substring of the reason it must be dead-lettered with
    stations: list[str] = field(default_factory=list)  # from the handler's replies: a description only
    found: list[str] = field(default_factory=list)  # independent observations: "applied (...)", "queue", "DLQ"
    claims: list[str] = field(default_factory=list)  # outcomes logged for it that the data does not bear out
    reason: str = ""  # the dead-letter reason found with it
    at_once: bool = False  # the DLQ copy carried a reason attribute (sent by the function, not by redrive)

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
        claimed = f" (claimed: {self.claims[0]})" if self.claims else ""
        ending = " + ".join(self.found) if self.found else f"LOST{claimed}"
        return " -> ".join([*parts, f"found: {ending}"]) if parts else f"never delivered; found: {ending}"


class Ledger:
    """Sends a scenario's messages, delivers them as Lambda's event source would, and accounts for each."""

    def __init__(self, rig: Rig, logs: FunctionLogs) -> None:
        self.rig = rig
        self.aws = rig.aws
        self.logs = logs
        self._first_line = len(logs.lines)
        self.journeys: dict[str, Journey] = {}
        self.gone: set[str] = set()  # workspaces the scenario deletes: their messages end as a skip, nothing left

    def inject(self, body: str, *, client_id: str | None = None, reason: str | None = None) -> None:
        self.expect(body, client_id=client_id, reason=reason)
        self.aws.send("counts", body)

    def expect(self, body: str, *, client_id: str | None = None, reason: str | None = None) -> None:
        """Account for a message someone else sent (the sweeper) as if the scenario had injected it."""
        assert body not in self.journeys, "bodies identify messages: make them distinct"
        self.journeys[body] = Journey(body, client_id, reason)

    def journey_of(self, client_id: str) -> Journey:
        [journey] = [j for j in self.journeys.values() if j.client_id == client_id and j.expected_reason is None]
        return journey

    def deliver(self, queue: str = "counts", *, size: int = 10, context: Any = None) -> dict[str, Any]:
        event = self.aws.receive_event(queue, size)
        if event["Records"]:
            mark = len(self.rig.function.sqs.log)
            self.describe(event, self.rig.function.invoke(event, context), queue, mark)
        return event

    def describe(self, event: dict[str, Any], response: dict[str, Any], queue: str, mark: int) -> set[str]:
        """Note what the handler said of each record, and delete the successes (as the event source does)."""
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        sends = [kwargs for operation, kwargs in self.rig.function.sqs.log[mark:] if operation == "send_message"]
        dead = {kwargs["MessageBody"] for kwargs in sends if kwargs["QueueUrl"] == self.aws.queues[queue].dlq_url}
        copies = {kwargs["MessageBody"] for kwargs in sends if kwargs["QueueUrl"] == self.aws.queues[queue].url}
        for record_ in event["Records"]:
            journey = self.journeys[record_["body"]]
            if record_["body"] in dead:
                journey.stations.append("dead-lettered")
            elif record_["messageId"] in failed:
                journey.stations.append("retry")
            elif record_["body"] in copies:
                journey.stations.append("re-sent as a copy")
            else:
                journey.stations.append("handled")
            if record_["messageId"] not in failed:
                self.aws.sqs.delete_message(QueueUrl=self.aws.queues[queue].url, ReceiptHandle=record_["receiptHandle"])
        return failed

    def settle(self) -> None:
        """Deliver until nothing is visible, in flight or delayed (backoffs fast-forwarded, delays waited out)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            assert time.monotonic() < deadline, "the queues did not settle"
            delivered = False
            for queue in SOURCE_QUEUES:
                self.aws.make_visible(queue)
                while self.deliver(queue)["Records"]:
                    delivered = True
            if delivered:
                continue
            if any(
                self.aws.delayed(self.aws.queues[queue].url) or self.aws.depth(self.aws.queues[queue].url) != (0, 0)
                for queue in SOURCE_QUEUES
            ):
                time.sleep(0.1)
                continue
            break

    def status(self, client_id: str | None) -> dict[str, Any] | None:
        if client_id is None:
            return None
        text = self.rig.raw_redis.get(f"job:v1:{client_id}:inbox_counts")
        return json.loads(text) if text else None

    # -- the accounting ---------------------------------------------------------------------------------------
    def find_everything(self, problems: dict[str, list[str]]) -> None:
        """Look for every message where it can be: the function's outcome lines (borne out by its workspace's
        data: `problems` lists what is wrong with each), the queues, the DLQs."""
        by_event_id: dict[str, list[Journey]] = {}
        for journey in self.journeys.values():
            event_id = event_id_of(journey.body)
            if event_id is not None:
                by_event_id.setdefault(event_id, []).append(journey)
        for line in self.logs.lines[self._first_line :]:
            outcome = OUTCOMES.get(str(line.get("message")))
            if outcome is not None:
                for journey in by_event_id.get(str(line.get("eventId")), []):
                    applied = f"applied ({line.get('skipped') or outcome})"
                    wrong = problems.get(journey.client_id or "", [])
                    (journey.claims if wrong else journey.found).append(
                        f"{applied}, but {'; '.join(wrong)}" if wrong else applied
                    )
        for queue in self.aws.queues.values():
            for url, place in ((queue.url, "queue"), (queue.dlq_url, "DLQ")):
                for message in self._everything_in(url):
                    sent = self.journeys.get(message["Body"])
                    assert sent is not None, f"a message nobody sent is in {url}: {message['Body'][:200]}"
                    sent.found.append(place)
                    if place == "DLQ":
                        attribute = message.get("MessageAttributes", {}).get(REASON_ATTRIBUTE, {}).get("StringValue")
                        sent.at_once = attribute is not None
                        sent.reason = attribute or self._redrive_reason(sent)

    def _everything_in(self, url: str) -> list[dict[str, Any]]:
        """Every message of a queue, in flight and delayed ones included (waited for, then drained)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.aws.delayed(url) or self.aws.depth(url)[1]:
            assert time.monotonic() < deadline, f"{url} kept messages delayed or in flight"
            time.sleep(0.1)
        return self.aws.drain(url)

    def _redrive_reason(self, journey: Journey) -> str:
        """Moved by the redrive policy after maxReceiveCount receives: the reason is in the status blob."""
        status = self.status(journey.client_id)
        return (
            f"no reason attribute; status {status.get('status')}: {status.get('lastError')}"
            if status
            else "no reason attribute, no status blob"
        )

    def tally(self, scenario: str, fault: str) -> FaultRow:
        """The row, from what was found (not from what the handler replied). Not recorded in the table."""
        problems = {
            client_id: (gone_problems if client_id in self.gone else workspace_problems)(self.rig, client_id)
            for client_id in {j.client_id for j in self.journeys.values() if j.expected_reason is None}
            if client_id is not None
        }
        self.find_everything(problems)
        survived = 0
        where: Counter[str] = Counter()
        for journey in self.journeys.values():
            only = journey.found[0] if len(journey.found) == 1 else ""
            if journey.expected_reason is None:
                survived += only.startswith("applied") and not problems.get(journey.client_id or "", [])
                where[journey.path()] += 1
            else:
                survived += only == "DLQ" and journey.at_once and journey.expected_reason in journey.reason
                where[f"{journey.path()} ({reason_class(journey.reason) if journey.reason else 'no reason'})"] += 1
        lost = sum(not journey.found for journey in self.journeys.values())
        duplicated = sum(len(journey.found) > 1 for journey in self.journeys.values())
        return FaultRow(scenario, fault, len(self.journeys), survived, lost, duplicated, where, problems)

    def row(self, scenario: str, fault: str) -> FaultRow:
        """The row, recorded in the printed table."""
        return record(self.tally(scenario, fault))


def workspace_problems(rig: Rig, client_id: str) -> list[str]:
    """What is wrong with a workspace after its messages were handled (an empty list when nothing is). Its version
    must be the one its committed change stamp stands for: published, and not moved by anything else."""
    db = rig.observer
    problems = []
    stamp = db.run('SELECT "updatedAt" FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal"', id=client_id)
    version = version_for_stamp(stamp_text(stamp[0]["updatedAt"])) if stamp else 0
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


def gone_problems(rig: Rig, client_id: str) -> list[str]:
    """What is wrong with a workspace deleted while it was recomputed: nothing of it may be left in PostgreSQL,
    no version may have been bumped, and its last status must be a skip that says so."""
    db = rig.observer
    problems = []
    for table, column in (("Client", "id"), ("InboxCounts", '"clientId"'), ("InboxCountsDirty", '"clientId"')):
        if db.run(f'SELECT 1 FROM "{table}" WHERE {column} = :id', id=client_id):
            problems.append(f"{table} rows left")
    if rig.raw_redis.get(f"inbox:v1:ver:{client_id}") is not None:
        problems.append("a version was bumped")
    status = json.loads(rig.raw_redis.get(f"job:v1:{client_id}:inbox_counts") or "{}")
    if status.get("status") != "skipped" or "deleted" not in str(status.get("reason")):
        problems.append(f"status {status.get('status')}: {status.get('reason')}")
    return problems
