"""Recompute one workspace: lock, compute and write in one snapshot, commit, then publish the version.

The same path serves the Lambda functions and the operator CLI. A recompute is split in two so the
caller can decide between them (the functions key idempotency on the generation read under the lock):

    lease = recompute.begin(client_id, context)  # BEGIN; take the workspace lock; read the dirty generation
    outcome = recompute.finish(lease)            # one statement computes and writes; COMMIT; bump + status
    recompute.abandon(lease)                     # or ROLLBACK, releasing the lock, having done nothing
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shared.contracts.errors import BusyError, RecountError, TransientError, WorkspaceGoneError
from shared.contracts.keys import JobName, stamp_text
from shared.contracts.metrics import Metric
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.domain.passes import STATE_RULES, STATEMENT_OF, Pass, Pending, lock_parameters
from shared.ports import Database, VersionStore
from shared.queries import query
from shared.telemetry import count, logger

# Advisory lock classes: one per job type, so inbox and analytics recomputes of a workspace never wait
# on each other.
LOCK_CLASS = {JobName.INBOX_COUNTS: 7301, JobName.ANALYTICS_AGGREGATES: 7302}
QUERY_FILE = {JobName.INBOX_COUNTS: "inbox_counts", JobName.ANALYTICS_AGGREGATES: "analytics_aggregates"}
LOCK_QUERY = {JobName.INBOX_COUNTS: "lock_and_read_marker", JobName.ANALYTICS_AGGREGATES: "lock"}
# A dirty job's transaction plans generically from its start: the lock query's plan, the same for every workspace,
# is kept once prepared instead of planned anew each time (the sessions force custom plans), and the lock query
# goes back to the session's setting when it chooses a full pass (shared/queries/inbox_counts.sql). In the BEGIN's
# own message: no round trip of its own.
GENERIC_PLANS_BEGIN = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"


@dataclass
class Lease:
    """An open transaction holding one workspace's lock for one job."""

    job: JobName
    client_id: str
    generation: str | None
    dirty_at: datetime | None
    committed_stamp: str | None
    status: StatusBlob
    started: float = field(default_factory=time.perf_counter)
    paths: dict[str, bool] = field(default_factory=dict)  # the inbox statement's per-size choices, bound into it
    pending: Pending = field(default_factory=Pending)
    how: Pass = Pass.FULL  # the inbox job's pass: the full one unless the caller chose otherwise
    open: bool = True  # the transaction is still open: only then does ending it cost a ROLLBACK


@dataclass(frozen=True)
class RecomputeOutcome:
    """What one recompute did, for the status blob, the logs and the metrics."""

    job: JobName
    client_id: str
    workspace_exists: bool
    rows_written: int
    rows_deleted: int
    changed: bool
    change_stamp: str | None
    generation: str | None
    dirty_at: datetime | None
    marker_cleared: bool
    computed_at: datetime
    version: int
    duration_ms: int
    how: Pass = Pass.FULL  # the inbox pass that ran (the logs and the idempotency record say which)
    state_drift: int = 0  # leads whose stale state a full pass repaired, with no change recorded for them


class Recompute:
    """The recompute of one job type over its stores."""

    def __init__(
        self,
        job: JobName,
        db: Database,
        versions: VersionStore,
        settings: RecomputeSettings,
        *,
        now: datetime | None = None,
        today: date | None = None,
    ) -> None:
        self.job = job
        self.db = db
        self.versions = versions
        self.settings = settings
        self._now = now  # a fixed instant for tests; None means the database's clock
        self._today = today

    def begin(self, client_id: str, context: JobContext, *, incremental: bool = False) -> Lease:
        """Open the transaction and take the lock; raise BusyError if another recompute holds it. `incremental`:
        the job may take the incremental pass (a dirty job); else the lease is for a full pass."""
        started = time.perf_counter()
        status = StatusBlob.start(self.job, client_id, context, datetime.now(UTC))
        self.db.run(GENERIC_PLANS_BEGIN if incremental and self.job is JobName.INBOX_COUNTS else "BEGIN")
        try:
            parameters = (
                lock_parameters(client_id, self._now, incremental=incremental)
                if self.job is JobName.INBOX_COUNTS
                else {}
            )
            row = self.db.run(
                query(QUERY_FILE[self.job], LOCK_QUERY[self.job]),
                lock_class=LOCK_CLASS[self.job],
                **(parameters or {"client_id": client_id}),
            )[0]
            if not row["locked"]:
                # Not a failure: the holder's status blob stays as it is, and the caller retries later.
                raise BusyError(f"{self.job.value} of {client_id} is already being recomputed")
            self.versions.write_status(status)
        except BaseException:
            self.db.rollback()
            raise
        # none when the lock query planned the incremental pass
        paths = {name: bool(row[name]) for name in ("probe_review", "probe_sent") if row.get(name) is not None}
        pending = Pending.from_row(row)
        return Lease(
            self.job,
            client_id,
            row["generation"],
            row["dirty_at"],
            _stamp_text(row["change_stamp"]),
            status,
            started,
            paths,
            pending,
            pending.full_pass,
        )

    def finish(self, lease: Lease) -> RecomputeOutcome:
        """Compute and write in one statement, commit, then bump the version and write the status."""
        try:
            row = self.db.run(query(QUERY_FILE[self.job], self._statement(lease)), **self._parameters(lease))[0]
            if lease.how is Pass.INCREMENTAL and not row["state_ready"]:
                # Another computation ended between the lock query's snapshot and the lock: ask again.
                raise TransientError(f"the lead state of {lease.client_id} changed before the lock was taken")
            self.db.run("COMMIT")
        except WorkspaceGoneError:
            self.db.rollback()
            return self._gone(lease)
        except BaseException:
            self.db.rollback()
            raise
        finally:
            lease.open = False
        stamp = _stamp_text(row["change_stamp"])
        duration_ms = int((time.perf_counter() - lease.started) * 1000)
        if row.get("state_drift"):
            _report_drift(lease.client_id, int(row["state_drift"]))
        final = lease.status.finish(
            JobStatus.SUCCEEDED if row["workspace_exists"] else JobStatus.SKIPPED,
            changed=row["changed"],
            rowsWritten=row["rows_written"],
            changeStamp=stamp,
            reason=None if row["workspace_exists"] else "no such workspace",
            dirtyAt=row["dirty_at"],
        )
        version = self.versions.publish(final, stamp)
        return RecomputeOutcome(
            job=self.job,
            client_id=lease.client_id,
            workspace_exists=row["workspace_exists"],
            rows_written=row["rows_written"],
            rows_deleted=row["rows_deleted"],
            changed=row["changed"],
            change_stamp=stamp,
            generation=row["generation"],
            dirty_at=row["dirty_at"],
            marker_cleared=row["marker_cleared"],
            computed_at=row["computed_at"],
            version=version,
            duration_ms=duration_ms,
            how=lease.how,
            state_drift=int(row.get("state_drift") or 0),
        )

    def _gone(self, lease: Lease) -> RecomputeOutcome:
        """The workspace was deleted while the statement ran (its write met the foreign key): nothing was
        written, nothing is owed but what an earlier run committed; the job ends as a skip."""
        final = lease.status.finish(JobStatus.SKIPPED, reason="no such workspace: deleted while it was recomputed")
        version = self.versions.publish(final, lease.committed_stamp)
        return RecomputeOutcome(
            job=self.job,
            client_id=lease.client_id,
            workspace_exists=False,
            rows_written=0,
            rows_deleted=0,
            changed=False,
            change_stamp=lease.committed_stamp,
            generation=lease.generation,
            dirty_at=lease.dirty_at,
            marker_cleared=False,
            computed_at=datetime.now(UTC).replace(tzinfo=None),
            version=version,
            duration_ms=int((time.perf_counter() - lease.started) * 1000),
            how=lease.how,
        )

    def abandon(self, lease: Lease) -> None:
        """Release the lock having done nothing; after a commit or a skip there is nothing left to end."""
        if lease.open:
            lease.open = False
            self.db.rollback()

    def skip(self, lease: Lease, reason: str) -> int:
        """End without recomputing: roll back, then write `skipped` with the reason. The publish still
        bumps the version if the committed stamp was never published (a run that failed after commit)."""
        self.abandon(lease)
        return self.versions.publish(lease.status.finish(JobStatus.SKIPPED, reason=reason), lease.committed_stamp)

    def fail(self, lease_or_status: Lease | StatusBlob, error: BaseException) -> None:
        """Record a failed attempt in the status blob (best effort: Redis may be what failed)."""
        status = lease_or_status.status if isinstance(lease_or_status, Lease) else lease_or_status
        # The caller reports the original error; a status we cannot write is not a second one.
        with contextlib.suppress(RecountError):
            self.versions.write_status(status.finish(JobStatus.FAILED, lastError=_one_line(error)))

    def run(self, client_id: str, context: JobContext) -> RecomputeOutcome:
        """begin + finish, recording a failure in the status blob before re-raising it."""
        status = StatusBlob.start(self.job, client_id, context, datetime.now(UTC))
        try:
            lease = self.begin(client_id, context)
        except BusyError:
            raise
        except RecountError as error:
            self.fail(status, error)
            raise
        try:
            return self.finish(lease)
        except RecountError as error:
            self.fail(lease, error)
            raise

    def _statement(self, lease: Lease) -> str:
        """The inbox job's pass names its block; every other job runs its `recompute` block."""
        return STATEMENT_OF[lease.how] if self.job is JobName.INBOX_COUNTS else "recompute"

    def _parameters(self, lease: Lease) -> dict[str, Any]:
        if self.job is JobName.INBOX_COUNTS:
            if lease.how is Pass.INCREMENTAL:
                return {"client_id": lease.client_id, "now": self._now, "rules": STATE_RULES}
            if not lease.paths:
                raise ValueError(f"a full pass of {lease.client_id} on a lease taken for the incremental one")
            rules = {"rules": STATE_RULES} if lease.how is Pass.FULL_WITH_STATE else {}
            return {"client_id": lease.client_id, "now": self._now, **lease.paths, **rules}
        if self.job is JobName.ANALYTICS_AGGREGATES:
            return {
                "client_id": lease.client_id,
                "today": self._today,
                "window_days": self.settings.analytics_window_days,
            }
        raise ValueError(f"no statement parameters for {self.job}: a new job gives them a branch here")


def _report_drift(client_id: str, leads: int) -> None:
    """A full pass found leads whose recorded contribution was stale with no change recorded for them: writes
    the capture never saw. Repaired by that pass; said once, in a WARNING and LeadStateDrift."""
    count(Metric.LEAD_STATE_DRIFT, leads)
    logger.warning(
        f"the lead state of {leads} lead(s) of {client_id} was stale with no change recorded (repaired): "
        "writes the triggers did not see (disabled, session_replication_role = replica, a restore)",
        extra={"clientId": client_id, "leads": leads},
    )


def _stamp_text(value: datetime | None) -> str | None:
    return stamp_text(value) if value is not None else None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:500]
