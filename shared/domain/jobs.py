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
from shared.contracts.keys import JobName
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.status import JobContext, JobStatus, StatusBlob
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
    )


def run_inbox_counts(
    clients: Clients, event: InboxCountsDirty | InboxCountsRecompute, context: JobContext
) -> JobResult:
    client_id = event.data.clientId
    recompute = Recompute(JobName.INBOX_COUNTS, clients.db, clients.versions, clients.recompute)
    lease = recompute.begin(client_id, context)
    try:
        if serves_dirty_marker(event) and lease.generation is None:
            reason = "clean: no dirty mark left, a recompute already saw this change"
            recompute.skip(lease, reason)
            return JobResult(client_id, skipped=Skip.CLEAN, reason=reason)
        key = idempotency_key(JobName.INBOX_COUNTS, event, lease.generation if serves_dirty_marker(event) else None)
        return _finish_once(clients, recompute, lease, key)
    finally:
        recompute.abandon(lease)  # a no-op after commit; releases the lock on every other path


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
