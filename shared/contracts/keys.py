"""Redis keys: the contract with the app (docs/design.md §4), defined once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.contracts.client_id import validate_client_id


class JobName(StrEnum):
    INBOX_COUNTS = "inbox_counts"
    ANALYTICS_AGGREGATES = "analytics_aggregates"


ANALYTICS_SLO_MISS_KEY = "analytics:v1:slo_miss"

_VERSION_PREFIX = {JobName.INBOX_COUNTS: "inbox:v1", JobName.ANALYTICS_AGGREGATES: "analytics:v1"}


# Versions per millisecond of change stamp. A version is its stamp's milliseconds since the epoch times this, and
# stamps move by at least 1 ms per effective change: an INCR (an older recount during a rollback, the app's own)
# lands between two of recount's versions and never on a later one. Exact in Lua's doubles until the year 2255.
VERSION_ROOM = 1_000
_EPOCH = datetime(1970, 1, 1)


def stamp_text(value: datetime) -> str:
    """A change stamp as recount stores and compares it: fixed-width ISO-8601, so string order is time order."""
    return value.isoformat(timespec="milliseconds")


def version_for_stamp(stamp: str) -> int:
    """The version a change stamp stands for: the same stamp always gives the same version (so a version Redis
    lost is put back as it was), a later stamp a larger one (so a version never repeats for other data)."""
    instant = datetime.fromisoformat(stamp)
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC).replace(tzinfo=None)
    return (instant - _EPOCH) // timedelta(milliseconds=1) * VERSION_ROOM


def version_key(job: JobName, client_id: str) -> str:
    """The integer the app's cache keys embed: set from the change stamp, only ever upward."""
    return f"{_VERSION_PREFIX[job]}:ver:{validate_client_id(client_id)}"


def applied_stamp_key(job: JobName, client_id: str) -> str:
    """recount's own key: the change stamp the current version stands for (makes the bump idempotent). Its hash
    tag is the version key's name, so on a Redis Cluster both live in one slot and the bump stays one script."""
    return f"{_VERSION_PREFIX[job]}:applied:{{{version_key(job, client_id)}}}"


def legacy_applied_stamp_key(job: JobName, client_id: str) -> str:
    """The applied stamp's name before it had a hash tag: read once, when the new key is missing."""
    return f"{_VERSION_PREFIX[job]}:applied:{validate_client_id(client_id)}"


def reconcile_cursor_key(job: JobName) -> str:
    """recount's own key: the last workspace whose version the sweep checked (the next sweep goes on after it)."""
    return f"{_VERSION_PREFIX[job]}:reconcile:cursor"


def status_key(job: JobName, client_id: str) -> str:
    """The job status blob of one workspace and job."""
    return f"job:v1:{validate_client_id(client_id)}:{job.value}"
