"""canary: drive dirty events at a rate against a target and say, with an exit status, whether the backlog and
the freshness stayed within the stage's alarm thresholds. Harmless: it marks chosen workspaces dirty (as the
app does) and sends their dirty events; a recompute of an unchanged workspace changes nothing."""

from __future__ import annotations

import math
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from recount.commands.connections import clients_for, queue_client
from recount.commands.dataset import WorkspaceShape, generate_workspace
from recount.commands.targets import Target
from recount.commands.usage import UsageError, valid_client_ids
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.adapters.sqs import QueueClient, classify_aws_error
from shared.contracts.client_id import CLIENT_ID_SQL
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.keys import JobName
from shared.contracts.status import JobStatus
from shared.domain.routing import queue_url_for
from shared.ports import OutgoingMessage
from shared.queries import query
from shared.wiring.clients import EnvironmentClients

_QUERIES = Path(__file__).resolve().parents[1] / "queries"
POLL_S = 0.25
# A workspace the canary makes when the local database has none: small, so its recompute is quick.
CANARY_SHAPE = WorkspaceShape(leads=50, setters=3)


@dataclass(frozen=True)
class Thresholds:
    max_backlog_age_s: float
    max_freshness_p95_ms: float


@dataclass
class Probe:
    """One dirty event: its workspace, its mark (PostgreSQL's clock, UTC), and when a job served the mark."""

    client_id: str
    marked_at: datetime  # naive UTC, as the marker table stores it
    sent_at: float  # monotonic
    finished_at: datetime | None = None
    outcome: str | None = None
    request_id: str = ""
    message_id: str = ""

    @property
    def freshness_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.marked_at.replace(tzinfo=UTC)).total_seconds() * 1000)


@dataclass
class CanaryReport:
    target: str
    rate: float
    duration_s: float
    thresholds: Thresholds
    probes: list[Probe] = field(default_factory=list)
    oldest_backlog_s: float = 0.0  # the longest any event waited unfinished, seen while the canary watched
    dead_letters: int = 0  # messages that reached the counts queues' dead-letter queues during the run
    retried: set[tuple[str, datetime]] = field(default_factory=set)  # failed attempts seen (workspace, start)
    sending_s: float = 0.0  # how long the sending took

    def freshness(self) -> dict[str, float]:
        values = sorted(p.freshness_ms for p in self.probes if p.freshness_ms is not None)
        if not values:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        p95 = values[max(0, math.ceil(len(values) * 0.95) - 1)]  # nearest rank
        return {"p50": statistics.median(values), "p95": p95, "max": values[-1]}

    @property
    def achieved_rate(self) -> float:
        return len(self.probes) / self.sending_s if self.sending_s > 0 else 0.0

    def count(self, outcome: str | None) -> int:
        return sum(1 for probe in self.probes if probe.outcome == outcome)

    @property
    def unfinished(self) -> int:
        return sum(1 for probe in self.probes if probe.finished_at is None)

    def problems(self) -> list[str]:
        found = []
        p95 = self.freshness()["p95"]
        if self.unfinished:
            found.append(f"{self.unfinished} of {len(self.probes)} events never finished")
        if p95 > self.thresholds.max_freshness_p95_ms:
            found.append(f"freshness p95 {p95:.0f} ms is over {self.thresholds.max_freshness_p95_ms:.0f} ms")
        if self.oldest_backlog_s > self.thresholds.max_backlog_age_s:
            found.append(
                f"an event waited {self.oldest_backlog_s:.1f} s, over the backlog age of "
                f"{self.thresholds.max_backlog_age_s:.0f} s"
            )
        if len(self.probes) < 0.95 * self.rate * self.duration_s:
            found.append(
                f"sent {len(self.probes)} events ({self.achieved_rate:.1f}/s), under the {self.rate:g}/s asked: "
                "the canary could not keep up"
            )
        if self.dead_letters:
            found.append(f"{self.dead_letters} messages reached a dead-letter queue")
        return found


def stage_thresholds(
    stage: str | None, stack: str | None, *, max_backlog_age_s: float | None, max_p95_ms: float | None
) -> Thresholds:
    """The thresholds given, else the stage's alarm settings (the stage: --stage, else the stack's name
    without its "recount-", else cdk.json's default)."""
    import json

    from infra.config import ConfigError, load_stage
    from infra.config_functions import ROOT

    if stage is None and stack is not None and stack.startswith("recount-"):
        stage = stack.removeprefix("recount-")
    try:
        _, config = load_stage(json.loads((ROOT / "cdk.json").read_text())["context"], stage)
    except ConfigError as error:
        raise UsageError(f"{error} (name the thresholds, or the stage with --stage)") from None
    return Thresholds(
        max_backlog_age_s if max_backlog_age_s is not None else config.alarms.oldest_message_age_seconds,
        max_p95_ms if max_p95_ms is not None else config.alarms.freshness_p95_ms,
    )


def choose_workspaces(target: Target, workspaces: int, client_ids: list[str]) -> list[str]:
    """The named workspaces, else a random sample of the database's, else (on the local runtime) new ones."""
    named = list(dict.fromkeys(valid_client_ids(client_ids)))  # each once, in the order given
    clients = clients_for(target)
    try:
        db = clients.db
        assert isinstance(db, PostgresDatabase)  # built from the target's settings
        if named:
            found = {
                row["client_id"] for row in db.run(query("canary", "existing_client_ids", _QUERIES), client_ids=named)
            }
            missing = [client_id for client_id in named if client_id not in found]
            if missing:
                raise UsageError(f"no such workspace: {', '.join(missing)}")
            return named
        rows = db.run(query("canary", "sample_client_ids", _QUERIES), sample_size=workspaces, **CLIENT_ID_SQL)
        chosen = [str(row["client_id"]) for row in rows]
        if not chosen and target.name == "local":  # the local runtime's empty database gets its own workspaces
            chosen = [generate_workspace(db, CANARY_SHAPE, str(uuid.uuid4())) for _ in range(workspaces)]
    finally:
        clients.close()
    if not chosen:
        raise UsageError("the database has no workspaces: name some with --client-id")
    return chosen


def run_canary(
    target: Target,
    client_ids: list[str],
    *,
    rate: float,
    duration_s: float,
    thresholds: Thresholds,
    drain_s: float | None = None,
    on_tick: Callable[[CanaryReport], None] = lambda _: None,
) -> CanaryReport:
    """Send `rate` dirty events a second for `duration_s`, round-robin over `client_ids`, then wait for the
    rest (up to the backlog threshold) while following each to a finished job."""
    report = CanaryReport(target.name, rate, duration_s, thresholds)
    clients = clients_for(target)
    sqs = queue_client(target)
    dead_letter_urls = [url for key, url in target.dead_letter_urls.items() if key in ("counts", "counts_high")]
    try:
        dead_before = sum(queue_depth(sqs, url) for url in dead_letter_urls)
        started = time.monotonic()
        next_send, next_poll, sent = started, started, 0
        deadline = started + duration_s
        drain_until = deadline + (drain_s if drain_s is not None else thresholds.max_backlog_age_s)
        while True:
            now = time.monotonic()
            if now < deadline and now >= next_send:
                client_id = client_ids[sent % len(client_ids)]
                report.probes.append(send_probe(clients, client_id))
                sent += 1
                next_send = started + sent / rate
            if now >= next_poll:
                _follow(clients, report)
                on_tick(report)
                next_poll = now + POLL_S
                if now >= deadline and not report.sending_s:
                    report.sending_s = now - started
                if (now >= deadline and not report.unfinished) or now >= drain_until:
                    break
            time.sleep(max(0.0, min(next_send if now < deadline else next_poll, next_poll) - time.monotonic()))
        report.dead_letters = sum(queue_depth(sqs, url) for url in dead_letter_urls) - dead_before
    finally:
        clients.close()
    return report


def send_probe(clients: EnvironmentClients, client_id: str, request_id: str | None = None) -> Probe:
    marked = clients.db.run(query("canary", "mark_dirty", _QUERIES), client_id=client_id)[0]["dirty_at"]
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="canary", request_id=request_id)
    message_id = clients.sqs.send(queue_url_for(event, clients.queues), OutgoingMessage(to_body(event)))
    return Probe(client_id, marked, time.monotonic(), request_id=event.request_id, message_id=message_id)


def _follow(clients: EnvironmentClients, report: CanaryReport) -> None:
    """A probe is served by the job whose status blob names a served mark at or after its own (one clock:
    PostgreSQL's), finished at that blob's finishedAt; or, when a later blob hid that one, by the mark's
    clearing, seen here (only recount clears a mark, and only one a job served). A failed attempt is not an
    end: the queue retries it, and a final failure shows as a dead letter."""
    versions = clients.versions
    assert isinstance(versions, RedisStore)  # built from the target's settings: the canary reads the blobs
    now = time.monotonic()
    waiting = sorted({probe.client_id for probe in report.probes if probe.finished_at is None})
    if not waiting:
        return
    rows = clients.db.run(query("canary", "markers", _QUERIES), client_ids=waiting)
    pending = {row["client_id"]: row["dirty_at"] for row in rows if row["client_id"] is not None}
    database_now = rows[0]["now"].replace(tzinfo=UTC)
    blobs = {client_id: versions.read_status(JobName.INBOX_COUNTS, client_id) for client_id in waiting}
    for probe in report.probes:
        if probe.finished_at is not None:
            continue
        blob = blobs[probe.client_id]
        if blob is not None and blob.status is JobStatus.FAILED:
            report.retried.add((probe.client_id, blob.startedAt))
        served = blob.dirtyAt.replace(tzinfo=None) if blob is not None and blob.dirtyAt is not None else None
        if blob is not None and blob.finishedAt is not None and served is not None and served >= probe.marked_at:
            probe.finished_at, probe.outcome = blob.finishedAt, blob.status.value
        elif probe.client_id not in pending:
            probe.finished_at, probe.outcome = database_now, "cleared"
        else:
            report.oldest_backlog_s = max(report.oldest_backlog_s, now - probe.sent_at)


def queue_depth(sqs: QueueClient, url: str) -> int:
    try:
        attributes = sqs.client.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except (ClientError, BotoCoreError) as error:
        raise classify_aws_error(error, "sqs queue attributes") from error
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
