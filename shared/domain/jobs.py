"""What one recompute message does, by event: the inbox counts and the analytics aggregates jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared.contracts.events import (
    AnalyticsAggregatesRecompute,
    InboxCountsDirty,
    InboxCountsRecompute,
    WorkspaceEvent,
)
from shared.contracts.keys import JobName, stamp_text
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.domain.passes import Pass, Pending
from shared.domain.recompute import Lease, Recompute, RecomputeOutcome
from shared.ports import Clients


class Skip(StrEnum):
    DUPLICATE = "duplicate"
    CLEAN = "clean"
    DISABLED = "disabled"
    COALESCED = "coalesced"


@dataclass(frozen=True)
class JobResult:
    """A job either recomputed (`outcome`) or was skipped for a reason."""

    client_id: str
    outcome: OutcomeRecord | None = None
    skipped: Skip | None = None
    reason: str | None = None


def idempotency_key(job: JobName, event: WorkspaceEvent, generation: str | None) -> str:
    """Keys follow the data: the dirty generation a run serves, else the request (the event id)."""
    client_id = event.data.clientId
    if generation is not None:
        return f"{job.value}:{client_id}:gen:{generation}"
    return f"{job.value}:{client_id}:event:{event.id}"


def changes_key(client_id: str, pending: Pending) -> str:
    """A job with no workspace mark serves the lead changes it found: keyed by exactly those change rows and the
    computation they follow, so a redelivery that finds them again is a duplicate, and one that comes after
    them finds nothing due."""
    since = stamp_text(pending.computed_at) if pending.computed_at is not None else "-"
    return f"{JobName.INBOX_COUNTS.value}:{client_id}:changes:{pending.changes_key or '-'}:{since}"


def serves_dirty_marker(event: WorkspaceEvent) -> bool:
    """A dirty event, or a recompute the sweeper sent for a dirty generation, serves the marker."""
    if isinstance(event, InboxCountsDirty):
        return True
    return isinstance(event, InboxCountsRecompute) and event.data.dirtyGeneration is not None


def outcome_record(outcome: RecomputeOutcome) -> OutcomeRecord:
    """What the idempotency table keeps of a run."""
    return OutcomeRecord(
        client_id=outcome.client_id,
        job=outcome.job,
        changed=outcome.changed,
        version=outcome.version,
        rows_written=outcome.rows_written,
        rows_deleted=outcome.rows_deleted,
        marker_cleared=outcome.marker_cleared,
        duration_ms=outcome.duration_ms,
        workspace_exists=outcome.workspace_exists,
        dirty_at=outcome.dirty_at,
        change_stamp=outcome.change_stamp,
        pass_=outcome.how.value,
    )


def run_inbox_counts(
    clients: Clients, event: InboxCountsDirty | InboxCountsRecompute, context: JobContext
) -> JobResult:
    client_id = event.data.clientId
    recompute = Recompute(JobName.INBOX_COUNTS, clients.db, clients.versions, clients.recompute)
    lease = recompute.begin(client_id, context, incremental=serves_dirty_marker(event))
    try:
        plan = plan_inbox_counts(event, lease)
        if plan.key is None:
            recompute.skip(lease, plan.reason)
            return JobResult(client_id, skipped=Skip.CLEAN, reason=plan.reason)
        lease.how = plan.how
        return _finish_once(clients, recompute, lease, plan.key)
    finally:
        recompute.abandon(lease)  # a no-op after commit; releases the lock on every other path


@dataclass(frozen=True)
class Plan:
    """What an inbox job does with its lease: a pass keyed for idempotency, or nothing (a clean skip)."""

    how: Pass
    key: str | None
    reason: str = ""


def plan_inbox_counts(event: InboxCountsDirty | InboxCountsRecompute, lease: Lease) -> Plan:
    """An explicit recompute, or a workspace mark: the full pass (keeping the lead state while the capture is
    on). With no mark, the lead changes or ended snoozes found: the incremental pass when the state stands for
    the counts and the changes are few enough, else the full one. Nothing due: a clean skip."""
    client_id = event.data.clientId
    full = lease.pending.full_pass
    if not serves_dirty_marker(event):
        return Plan(full, idempotency_key(JobName.INBOX_COUNTS, event, None))
    if lease.generation is not None:
        return Plan(full, idempotency_key(JobName.INBOX_COUNTS, event, lease.generation))
    if not lease.pending.due:
        return Plan(full, None, "clean: no dirty mark or lead change left, a recompute already saw this change")
    how = Pass.INCREMENTAL if lease.pending.incremental else full
    return Plan(how, changes_key(client_id, lease.pending))


def run_analytics_aggregates(clients: Clients, event: AnalyticsAggregatesRecompute, context: JobContext) -> JobResult:
    client_id = event.data.clientId
    if not clients.recompute.analytics_aggregates_enabled:
        reason = "disabled: ANALYTICS_AGGREGATES_ENABLED is false"
        blob = StatusBlob.start(JobName.ANALYTICS_AGGREGATES, client_id, context, datetime.now(UTC))
        clients.versions.write_status(blob.finish(JobStatus.SKIPPED, reason=reason))
        return JobResult(client_id, skipped=Skip.DISABLED, reason=reason)
    recompute = Recompute(JobName.ANALYTICS_AGGREGATES, clients.db, clients.versions, clients.recompute)
    lease = recompute.begin(client_id, context)
    try:
        return _finish_once(clients, recompute, lease, idempotency_key(JobName.ANALYTICS_AGGREGATES, event, None))
    finally:
        recompute.abandon(lease)


def _finish_once(clients: Clients, recompute: Recompute, lease: Lease, key: str) -> JobResult:
    """Finish the leased recompute unless `key` was already done; a replay ends as a duplicate skip."""
    record, replayed = clients.idempotency.run_once(key, lambda: outcome_record(recompute.finish(lease)))
    if replayed:
        reason = f"duplicate: {key} was already recomputed"
        recompute.skip(lease, reason)
        return JobResult(lease.client_id, skipped=Skip.DUPLICATE, reason=reason)
    return JobResult(lease.client_id, outcome=record)
