"""The metrics recount emits and the namespace they go to: read by the functions, the dashboard and the alarms."""

from __future__ import annotations

from enum import StrEnum

METRICS_NAMESPACE = "recount"


class Metric(StrEnum):
    """The EMF metrics the dashboard and the alarms read (DESIGN section 7)."""

    JOBS_SUCCEEDED = "JobsSucceeded"
    JOBS_FAILED = "JobsFailed"
    JOBS_DEAD_LETTERED = "JobsDeadLettered"
    JOBS_SKIPPED_DUPLICATE = "JobsSkippedDuplicate"
    JOBS_SKIPPED_COALESCED = "JobsSkippedCoalesced"
    JOBS_SKIPPED_CLEAN = "JobsSkippedClean"
    JOBS_SKIPPED_DISABLED = "JobsSkippedDisabled"
    JOBS_RETRIED = "JobsRetried"
    JOBS_BUSY = "JobsBusy"
    RECORDS_HANDED_BACK = "RecordsHandedBack"
    RECOMPUTE_DURATION = "RecomputeDuration"
    FRESHNESS_LAG = "FreshnessLag"
    DIRTY_BACKLOG = "DirtyBacklog"
    DIRTY_OLDEST_AGE = "DirtyOldestAge"
    SWEEP_ENQUEUED = "SweepEnqueued"
    INVALID_WORKSPACE_IDS = "InvalidWorkspaceIds"
    VERSIONS_REPUBLISHED = "VersionsRepublished"
