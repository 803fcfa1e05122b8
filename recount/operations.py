"""The operator commands (send, status, sweep, backfill, verify) against a Target: the local runtime or a stack.

Each command goes through the code the functions run: events are built and validated by shared.contracts.events
and routed by shared.domain.routing, sweeps are shared.domain.sweep, and verify runs shared/queries/inbox_counts.sql
itself (in a transaction it always rolls back). The dead-letter queue commands are in recount/dead_letters.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from redis.exceptions import RedisError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recount.targets import LOCAL_STATE_FILE, Target, resolve_target
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore, classify_redis_error
from shared.adapters.sqs import SEND_BATCH_LIMIT, QueueClient
from shared.contracts.client_id import validate_client_id
from shared.contracts.errors import BusyError, InvalidClientIdError, PermanentError, RecountError
from shared.contracts.events import Envelope, EventName, Priority, new_event, to_body
from shared.contracts.keys import JobName, status_key, version_key
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, StoreSettings, SweepSettings
from shared.domain.recompute import LOCK_CLASS
from shared.domain.routing import queue_url_for
from shared.ports import Database, OutgoingMessage
from shared.queries import query
from shared.wiring.clients import EnvironmentClients, Given

if TYPE_CHECKING:
    from shared.domain.sweep import SweepReport

QUERIES = Path(__file__).with_name("queries")
SWEEP_EVENTS = (EventName.INBOX_COUNTS_SWEEP, EventName.ANALYTICS_AGGREGATES_SWEEP)
# The sweep never touches the idempotency table, but FunctionSettings requires a name.
_NO_IDEMPOTENCY_TABLE = "unused-by-operator-commands"


class UsageError(PermanentError):
    """The operator's input is wrong: one line, exit status 2, nothing done."""


# ---------------------------------------------------------------------------------------------- the target


def target(stack: str | None, region: str | None) -> Target:
    """resolve_target, with an unreadable local state file as a one-line error."""
    try:
        return resolve_target(stack, region=region)
    except (OSError, ValueError, TypeError) as error:
        raise PermanentError(f"cannot read {LOCAL_STATE_FILE}: {' '.join(str(error).split())}") from None


def prepare_aws(target: Target) -> None:
    """moto's server accepts any credentials, but boto3 signs every request and needs some: give the local
    endpoint placeholders (never overriding what the environment has), and its region."""
    if target.endpoint_url:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        if target.region:
            os.environ.setdefault("AWS_DEFAULT_REGION", target.region)


def queue_client(target: Target) -> QueueClient:
    prepare_aws(target)
    return QueueClient(endpoint_url=target.endpoint_url, region_name=target.region)


def queue_settings(target: Target) -> QueueSettings:
    return QueueSettings.model_validate(target.queue_environment())


def queue_name(target: Target, url: str) -> str:
    """The queue key (counts, counts_high, analytics, sweep) of a URL of the target."""
    return next((key for key, value in target.queue_urls.items() if value == url), url)


def clients_for(target: Target, *, sweep: SweepSettings | None = None) -> EnvironmentClients:
    """Clients on the target's stores and queues (its own SQS client: the target's region); the rest of the
    settings from the environment."""
    prepare_aws(target)
    urls = {"database_url": target.database_url, "redis_url": target.redis_url}
    stores = StoreSettings().model_copy(update={name: SecretStr(url) for name, url in urls.items() if url})
    function = FunctionSettings(idempotency_table_name=target.idempotency_table or _NO_IDEMPOTENCY_TABLE)
    return EnvironmentClients(
        stores=stores,
        recompute=RecomputeSettings(),
        queues=queue_settings(target),
        function=function,
        sweep=sweep or SweepSettings(),
        given=Given(sqs=queue_client(target)),
    )


def valid_client_ids(client_ids: list[str]) -> list[str]:
    """Every id checked before any I/O: the first invalid one is a usage error."""
    try:
        return [validate_client_id(client_id) for client_id in client_ids]
    except InvalidClientIdError as error:
        raise UsageError(str(error)) from None


def all_client_ids(db: Database) -> tuple[list[str], list[str]]:
    """Every workspace in PostgreSQL, split into valid ids and ids that may not reach a key or a query."""
    return _split_valid([row["client_id"] for row in db.run(query("operations", "client_ids", QUERIES))])


def _split_valid(client_ids: list[str]) -> tuple[list[str], list[str]]:
    valid: list[str] = []
    invalid: list[str] = []
    for client_id in client_ids:
        try:
            valid.append(validate_client_id(client_id))
        except InvalidClientIdError:
            invalid.append(client_id)
    return valid, invalid


# ---------------------------------------------------------------------------------------------------- send


@dataclass(frozen=True)
class SentEvent:
    event: str
    eventId: str
    clientId: str | None
    queue: str
    messageId: str


def build_event(name: str, client_id: str | None, *, priority: str = "normal", source: str = "manual") -> Envelope:
    """The envelope, validated against the contract; any violation is a usage error."""
    try:
        event_name = EventName(name)
    except ValueError:
        raise UsageError(f"unknown event {name!r}: choose one of {', '.join(e.value for e in EventName)}") from None
    if event_name in SWEEP_EVENTS and client_id is not None:
        raise UsageError(f"{event_name.value} is a sweep event: it takes no --client-id")
    if event_name not in SWEEP_EVENTS and client_id is None:
        raise UsageError(f"{event_name.value} needs --client-id")
    try:
        return new_event(event_name, client_id=client_id, source=source, priority=parse_priority(priority))
    except RecountError as error:
        raise UsageError(str(error)) from None


def parse_priority(value: str) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        raise UsageError(f"invalid priority {value!r}: choose normal or high") from None


def send_event(target: Target, event: Envelope) -> SentEvent:
    url = queue_url_for(event, queue_settings(target))
    message_id = queue_client(target).send(url, OutgoingMessage(to_body(event)))
    client_id = None if event.name in SWEEP_EVENTS else event.data.clientId  # type: ignore[union-attr]
    return SentEvent(event.name.value, event.id, client_id, queue_name(target, url), message_id)


def render_sent(console: Console, sent: SentEvent, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(sent))
        return
    workspace = f" for {sent.clientId}" if sent.clientId else ""
    console.print(f"sent {sent.event}{workspace} to {sent.queue}: message {sent.messageId} (event {sent.eventId})")


# -------------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class JobState:
    job: str
    version: int | None
    status: dict[str, Any] | None
    statusTtlSeconds: int | None


@dataclass(frozen=True)
class WorkspaceStatus:
    clientId: str
    workspaceExists: bool
    dirtyAt: str | None
    dirtyAgeSeconds: float | None
    dirtyGeneration: str | None
    countsComputedAt: str | None
    aggregatesComputedAt: str | None
    jobs: list[JobState] = field(default_factory=list)


def read_status(target: Target, client_id: str) -> WorkspaceStatus:
    """Every job's status blob and version from Redis (as stored, unvalidated), and the marker from PostgreSQL."""
    clients = clients_for(target)
    try:
        row = clients.db.run(query("operations", "workspace_state", QUERIES), client_id=client_id)[0]
        jobs = []
        try:
            cache = clients.versions
            assert isinstance(cache, RedisStore)  # built from settings: the operator reads Redis directly
            pipe = cache.client.pipeline(transaction=False)
            for job in JobName:
                pipe.get(version_key(job, client_id))
                pipe.get(status_key(job, client_id))
                pipe.ttl(status_key(job, client_id))
            replies = pipe.execute()
        except RedisError as error:
            raise classify_redis_error(error) from error
        for index, job in enumerate(JobName):
            version, blob, ttl = replies[3 * index : 3 * index + 3]
            jobs.append(
                JobState(
                    job.value,
                    int(version) if version is not None else None,
                    _blob(blob),
                    int(ttl) if blob is not None and int(ttl) >= 0 else None,
                )
            )
    finally:
        clients.close()
    return WorkspaceStatus(
        client_id,
        row["workspace_exists"],
        _iso(row["dirty_at"]),
        round(row["dirty_age_s"], 3) if row["dirty_age_s"] is not None else None,
        row["generation"],
        _iso(row["counts_computed_at"]),
        _iso(row["aggregates_computed_at"]),
        jobs,
    )


_BLOB_FIELDS = (
    "status",
    "attempt",
    "startedAt",
    "finishedAt",
    "durationMs",
    "lastError",
    "reason",
    "changed",
    "rowsWritten",
    "source",
    "requestId",
    "messageId",
    "changeStamp",
    "version",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = escape(str(value))
    return {"succeeded": "[green]succeeded[/green]", "failed": "[red]failed[/red]"}.get(text, text)


def _blob(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"unparsable": raw}
    return value if isinstance(value, dict) else {"unparsable": raw}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value is not None else None


def render_status(console: Console, status: WorkspaceStatus, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(status))
        return
    if not status.workspaceExists:
        console.print(f"[yellow]workspace {status.clientId} does not exist in PostgreSQL[/yellow]")
    marker = (
        f"dirty for {status.dirtyAgeSeconds:.1f} s (since {status.dirtyAt}, generation {status.dirtyGeneration})"
        if status.dirtyAt is not None
        else "clean (no dirty marker)"
    )
    console.print(f"workspace {status.clientId}: {marker}")
    console.print(
        f"inbox counts computed at {status.countsComputedAt or 'never'}; "
        f"analytics aggregates computed at {status.aggregatesComputedAt or 'never'}"
    )
    # One column per job, one row per field: narrow enough for any terminal, and every field of the blob shown.
    table = Table("", *(job.job for job in status.jobs))
    table.add_row("cache version", *(str(job.version) if job.version is not None else "-" for job in status.jobs))
    blobs = [job.status or {} for job in status.jobs]
    fields = [name for name in _BLOB_FIELDS if any(blob.get(name) is not None for blob in blobs)]
    fields += sorted({name for blob in blobs for name in blob} - set(_BLOB_FIELDS) - {"clientId", "jobName"})
    if not fields:
        table.add_row("status", *("[dim]none[/dim]" for _ in status.jobs))
    for name in fields:
        label = "version written" if name == "version" else name
        table.add_row(label, *(_cell(blob.get(name)) for blob in blobs))
    table.add_row(
        "status ttl s", *(str(job.statusTtlSeconds) if job.statusTtlSeconds is not None else "" for job in status.jobs)
    )
    console.print(table)


# --------------------------------------------------------------------------------------------------- sweep


def sweep_kind(kind: str) -> str:
    if kind not in ("inbox", "analytics"):
        raise UsageError(f"unknown sweep {kind!r}: choose inbox or analytics")
    return kind


def run_sweep(target: Target, kind: str, *, min_age_s: float | None = None) -> SweepReport:
    """One sweep now, exactly as the scheduled one runs (shared.domain.sweep)."""
    from shared.domain.sweep import sweep_analytics, sweep_inbox  # with Powertools' tracer: slow to import

    sweep_kind(kind)
    sweep = SweepSettings() if min_age_s is None else SweepSettings(min_age_s=min_age_s)
    clients = clients_for(target, sweep=sweep)
    _quiet_telemetry()
    request_id = f"manual-sweep-{uuid.uuid4()}"
    try:
        report = sweep_inbox(clients, request_id) if kind == "inbox" else sweep_analytics(clients, request_id)
    finally:
        clients.close()
    if report.skipped_reason:
        raise PermanentError(f"{kind} sweep skipped: {report.skipped_reason}")
    return report


def _quiet_telemetry() -> None:
    """The sweep's structured logs are for CloudWatch: here, only warnings, and on stderr, not stdout."""
    from shared.telemetry import logger

    logger.setLevel(logging.WARNING)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)


def render_sweep(console: Console, kind: str, report: SweepReport) -> None:
    if kind == "inbox":
        console.print(
            f"inbox sweep: enqueued {report.enqueued} recompute(s) "
            f"({report.enqueued_dirty} dirty, {report.enqueued_snoozed} with expired snoozes); "
            f"backlog {report.backlog} dirty workspace(s), oldest {report.oldest_age_s:.1f} s"
        )
    else:
        console.print(f"analytics sweep: enqueued {report.enqueued_slo_misses} recompute(s) for SLO misses")


# ------------------------------------------------------------------------------------------------ backfill


@dataclass(frozen=True)
class BackfillReport:
    sent: int
    queue: str
    requestId: str
    seconds: float


def backfill_ids(target: Target, client_ids: list[str] | None) -> tuple[list[str], list[str]]:
    """The workspaces to backfill: the given ids (all valid, or a usage error), or every one in PostgreSQL
    (invalid ids returned apart, to be reported and skipped)."""
    if client_ids is not None:
        return valid_client_ids(client_ids), []
    clients = clients_for(target)
    try:
        return all_client_ids(clients.db)
    finally:
        clients.close()


def backfill(
    target: Target,
    client_ids: list[str],
    *,
    analytics: bool = False,
    priority: str = "normal",
    rate: float = 50.0,
    on_sent: Callable[[int], None] = lambda _: None,
) -> BackfillReport:
    """One recompute event per workspace, in batches of up to ten, at most `rate` events per second."""
    if rate <= 0:
        raise UsageError("--rate must be positive")
    name = EventName.ANALYTICS_AGGREGATES_RECOMPUTE if analytics else EventName.INBOX_COUNTS_RECOMPUTE
    level = parse_priority(priority)
    settings, client = queue_settings(target), queue_client(target)
    request_id = f"backfill-{uuid.uuid4()}"
    batch = max(1, min(SEND_BATCH_LIMIT, int(rate)))
    started, sent, url = time.monotonic(), 0, ""
    for offset in range(0, len(client_ids), batch):
        time.sleep(max(0.0, started + offset / rate - time.monotonic()))
        events = [
            new_event(name, client_id=client_id, source="backfill", priority=level, request_id=request_id)
            for client_id in client_ids[offset : offset + batch]
        ]
        url = queue_url_for(events[0], settings)
        try:
            client.send_batch(url, [OutgoingMessage(to_body(event)) for event in events])
        except RecountError as error:
            raise type(error)(
                f"{error} (sent {sent} of {len(client_ids)} before it; the rest were not sent)"
            ) from error
        sent += len(events)
        on_sent(len(events))
    return BackfillReport(
        sent, queue_name(target, url) if url else "-", request_id, round(time.monotonic() - started, 3)
    )


# -------------------------------------------------------------------------------------------------- verify


class Verdict(StrEnum):
    OK = "ok"
    DRIFT = "drift"  # the materialized rows differ from a fresh computation, and nothing is due to fix them
    PENDING = "pending"  # they may differ, and a recompute is due (a dirty marker, or a snooze that expired)
    BUSY = "busy"  # a recompute holds the workspace's lock: nothing to compare against yet
    MISSING = "missing"  # no such workspace


@dataclass(frozen=True)
class VerifyResult:
    clientId: str
    verdict: Verdict
    detail: str = ""


def verify_workspace(db: Database, client_id: str) -> VerifyResult:
    """Compare the materialized inbox counts with a fresh computation, writing nothing: the functions' own
    statements (lock_and_read_marker, then recompute) in one transaction that is always rolled back."""
    db.run("BEGIN")
    try:
        lock = db.run(
            query("inbox_counts", "lock_and_read_marker"),
            lock_class=LOCK_CLASS[JobName.INBOX_COUNTS],
            client_id=client_id,
        )[0]
        if not lock["locked"]:
            return VerifyResult(client_id, Verdict.BUSY, "a recompute holds the workspace's lock")
        before = _rows(db, client_id)
        row = db.run(
            query("inbox_counts", "recompute"),
            client_id=client_id,
            now=None,
            probe_review=lock["probe_review"],
            probe_sent=lock["probe_sent"],
        )[0]
        if not row["workspace_exists"]:
            return VerifyResult(client_id, Verdict.MISSING, "no such workspace")
        after = _rows(db, client_id) if row["changed"] else before
        difference = _difference(before, after)
        if lock["generation"] is not None:
            state = f"differs: {difference}" if row["changed"] else "matches a fresh computation"
            return VerifyResult(client_id, Verdict.PENDING, f"dirty since {_iso(lock['dirty_at'])}; {state}")
        if not row["changed"]:
            return VerifyResult(client_id, Verdict.OK)
        computed_at = before.get((True, _GLOBAL_SCOPE), {}).get("computed_at")
        if (
            computed_at is not None
            and db.run(
                query("operations", "snoozes_expired_between", QUERIES),
                client_id=client_id,
                since=computed_at,
                until=row["computed_at"],
            )[0]["expired"]
        ):
            return VerifyResult(
                client_id,
                Verdict.PENDING,
                f"a snooze expired since {_iso(computed_at)}; the sweep enqueues it: {difference}",
            )
        return VerifyResult(client_id, Verdict.DRIFT, difference)
    except BusyError as error:  # a row lock (the app's marker upsert) outlasted lock_timeout
        return VerifyResult(client_id, Verdict.BUSY, str(error))
    finally:
        db.rollback()


_GLOBAL_SCOPE = "00000000-0000-0000-0000-000000000000"
_COUNT_COLUMNS = (
    "total",
    "total_non_blacklisted",
    "needs_repair",
    "all_responses",
    "requires_attention",
    "previously_required_attention",
    "ai_review",
    "ai_sent",
    "awaiting_reply",
)
Rows = dict[tuple[bool, str], dict[str, Any]]


def _rows(db: Database, client_id: str) -> Rows:
    return {
        (row["is_global"], row["scope_user_id"]): row
        for row in db.run(query("inbox_counts", "read_counts"), client_id=client_id)
    }


def _difference(materialized: Rows, fresh: Rows, limit: int = 4) -> str:
    """What a recompute would change, as `scope: column materialized->fresh`, the first few only."""
    changes = []
    for key in sorted(materialized.keys() | fresh.keys(), key=lambda k: (not k[0], k[1])):
        scope = "global" if key[0] else key[1]
        if key not in fresh:
            changes.append(f"{scope}: row would be deleted")
        elif key not in materialized:
            changes.append(f"{scope}: row missing")
        else:
            changes.extend(
                f"{scope}: {column} {materialized[key][column]}->{fresh[key][column]}"
                for column in _COUNT_COLUMNS
                if materialized[key][column] != fresh[key][column]
            )
    shown = "; ".join(changes[:limit]) + (f"; and {len(changes) - limit} more" if len(changes) > limit else "")
    return shown or "no row differs"


def verify_selection(*, every: bool, sample: int | None, client_ids: list[str] | None) -> None:
    """Exactly one of --all, --sample N, --client-id ID...; given ids all valid. Checked before any I/O."""
    if sum((every, sample is not None, bool(client_ids))) != 1:
        raise UsageError("choose exactly one of --all, --sample N and --client-id ID")
    if sample is not None and sample < 1:
        raise UsageError("--sample must be at least 1")
    valid_client_ids(client_ids or [])


def verify_ids(
    target: Target, *, every: bool, sample: int | None, client_ids: list[str] | None
) -> tuple[list[str], list[str]]:
    """The workspaces to verify, and invalid ids found in PostgreSQL (reported and skipped)."""
    verify_selection(every=every, sample=sample, client_ids=client_ids)
    if client_ids:
        return client_ids, []
    clients = clients_for(target)
    try:
        if every:
            return all_client_ids(clients.db)
        rows = clients.db.run(query("operations", "sample_client_ids", QUERIES), sample_size=sample)
        return _split_valid([row["client_id"] for row in rows])
    finally:
        clients.close()


def verify(
    target: Target, client_ids: list[str], on_result: Callable[[VerifyResult], None] = lambda _: None
) -> list[VerifyResult]:
    """Each workspace in turn, on one connection."""
    clients = clients_for(target)
    results = []
    try:
        for client_id in client_ids:
            result = verify_workspace(clients.db, client_id)
            results.append(result)
            on_result(result)
    finally:
        clients.close()
    return results


def verify_drift(db: PostgresDatabase, client_ids: list[str]) -> tuple[list[str], list[str]]:
    """For the demo's final check: (workspaces that drifted, workspaces not settled: pending or busy)."""
    results = [verify_workspace(db, client_id) for client_id in client_ids]
    return (
        [r.clientId for r in results if r.verdict is Verdict.DRIFT],
        [r.clientId for r in results if r.verdict in (Verdict.PENDING, Verdict.BUSY)],
    )


_VERDICT_STYLE = {
    Verdict.OK: "green",
    Verdict.DRIFT: "bold red",
    Verdict.PENDING: "yellow",
    Verdict.BUSY: "cyan",
    Verdict.MISSING: "dim",
}


def render_verify_result(console: Console, result: VerifyResult) -> None:
    detail = f": {escape(result.detail)}" if result.detail else ""
    style = _VERDICT_STYLE[result.verdict]
    console.print(f"[{style}]{result.verdict.value}[/{style}] {result.clientId}{detail}")


def verify_summary(results: list[VerifyResult], invalid: list[str]) -> dict[str, int]:
    summary = {verdict.value: 0 for verdict in Verdict}
    for result in results:
        summary[result.verdict.value] += 1
    return {"workspaces": len(results), **summary, "invalidIdsSkipped": len(invalid)}


def render_verify_summary(console: Console, summary: dict[str, int]) -> None:
    counts = ", ".join(f"{summary[verdict.value]} {verdict.value}" for verdict in Verdict)
    skipped = f"; skipped {summary['invalidIdsSkipped']} invalid clientId(s)" if summary["invalidIdsSkipped"] else ""
    console.print(f"{summary['workspaces']} workspace(s): {counts}{skipped}")
