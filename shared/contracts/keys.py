"""Redis keys: the contract with the app (DESIGN section 4), defined once."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.client_id import validate_client_id


class JobName(StrEnum):
    INBOX_COUNTS = "inbox_counts"
    ANALYTICS_AGGREGATES = "analytics_aggregates"


ANALYTICS_SLO_MISS_KEY = "analytics:v1:slo_miss"

_VERSION_PREFIX = {JobName.INBOX_COUNTS: "inbox:v1", JobName.ANALYTICS_AGGREGATES: "analytics:v1"}


def version_key(job: JobName, client_id: str) -> str:
    """The integer the app's cache keys embed; INCR after an effective change."""
    return f"{_VERSION_PREFIX[job]}:ver:{validate_client_id(client_id)}"


def applied_stamp_key(job: JobName, client_id: str) -> str:
    """recount's own key: the change stamp the current version stands for (makes the bump idempotent). Its hash
    tag is the version key's name, so on a Redis Cluster both live in one slot and the bump stays one script."""
    return f"{_VERSION_PREFIX[job]}:applied:{{{version_key(job, client_id)}}}"


def legacy_applied_stamp_key(job: JobName, client_id: str) -> str:
    """The applied stamp's name before it had a hash tag: read once, when the new key is missing."""
    return f"{_VERSION_PREFIX[job]}:applied:{validate_client_id(client_id)}"


def status_key(job: JobName, client_id: str) -> str:
    """The job status blob of one workspace and job."""
    return f"job:v1:{validate_client_id(client_id)}:{job.value}"
