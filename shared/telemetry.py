"""Powertools Logger, Tracer and Metrics: one of each per execution environment, shared by all modules.

The service name comes from POWERTOOLS_SERVICE_NAME (set per function by the stack); the metrics
namespace is recount's.
"""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "recount"

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=METRICS_NAMESPACE)


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


def count(metric: Metric, value: float = 1) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def milliseconds(metric: Metric, value: float) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Milliseconds, value=value)


def seconds(metric: Metric, value: float) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Seconds, value=value)
