"""The metrics recount emits and the namespace they go to: read by the functions, the dashboard and the alarms."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

METRICS_NAMESPACE = "recount"


class Metric(StrEnum):
    """The EMF metrics the dashboard and the alarms read (docs/design.md §7)."""

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
    LEAD_STATE_DRIFT = "LeadStateDrift"  # leads a full pass found changed with no capture: repaired, reported


class AwsMetric(NamedTuple):
    """A metric AWS publishes that the alarms and the dashboard read (infra/monitoring.py builds them with CDK's
    helpers; tests/infra asserts the template's alarms use exactly these), and the dimension that names its
    resource."""

    namespace: str
    name: str
    dimension: str


QUEUE_OLDEST_AGE = AwsMetric("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName")
QUEUE_VISIBLE = AwsMetric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
FUNCTION_ERRORS = AwsMetric("AWS/Lambda", "Errors", "FunctionName")
FUNCTION_THROTTLES = AwsMetric("AWS/Lambda", "Throttles", "FunctionName")
FUNCTION_INVOCATIONS = AwsMetric("AWS/Lambda", "Invocations", "FunctionName")
EMF_SERVICE_DIMENSION = "service"  # Powertools' dimension on every recount metric: the function's name
