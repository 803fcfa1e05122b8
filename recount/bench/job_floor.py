"""The inbox job's floors. Its shape with nothing to compute: B1 and B9 time it in their own rounds, so a job's
fixed costs (the transaction, COMMIT's WAL flush, the two Redis commands) are read beside what it computes. And
B1's least job: the job with its statement replaced by the least pass (`least_pass` in
recount/queries/seed_inbox_counts.sql: the contract's counts per assignee, and no more), the least any full job
does, and the test that says when a run shows a job below it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from recount.bench.b1_seed import inbox_paths, least_pass
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.domain.recompute import LOCK_CLASS

_CONTEXT = JobContext("bench", "bench")
_LOCK = "SELECT pg_try_advisory_xact_lock(:lock_class, hashtext(:client_id)) AS locked"
_WRITE = 'UPDATE "InboxCounts" SET "computedAt" = "computedAt" WHERE "clientId" = :client_id AND "isGlobal"'


# A job's median under its floor's, by a hair, is what two equal costs give half the time: where the rounds can tell,
# the run shows the job below its floor only when it was also below the floor's own least job of the same round in
# significantly more rounds than two equal costs would be (a one-sided sign test at this level).
SIGN_TEST_P = 0.05


def shown_below(below: int, rounds: int) -> bool:
    """Whether `below` rounds of `rounds` show one cost under another: a one-sided sign test at SIGN_TEST_P."""
    tail = sum(math.comb(rounds, k) for k in range(below, rounds + 1))
    return bool(tail / 2**rounds < SIGN_TEST_P)


def floor_job(db: PostgresDatabase, cache: RedisStore, client_id: str) -> float:
    """BEGIN, the workspace's lock alone, one write of the global row as it is (so COMMIT flushes the WAL, as the
    job's does), COMMIT, the running status, the final status (no bump). The workspace has been recomputed once,
    so its global row exists. Milliseconds."""
    started = time.perf_counter()
    status = StatusBlob.start(JobName.INBOX_COUNTS, client_id, _CONTEXT, datetime.now(UTC))
    db.run("BEGIN")
    db.run(_LOCK, lock_class=LOCK_CLASS[JobName.INBOX_COUNTS], client_id=client_id)
    cache.write_status(status)
    db.run(_WRITE, client_id=client_id)
    db.run("COMMIT")
    cache.write_status(status.finish(JobStatus.SUCCEEDED, changed=False, rowsWritten=0))
    return (time.perf_counter() - started) * 1000


def least_job(db: PostgresDatabase, cache: RedisStore, client_id: str, *, probed: bool) -> float:
    """The full job's shape around the least pass: BEGIN, the job's own lock query (the lock, and the paths it
    chooses, nested loops set as the job runs with them), the running status, the least pass on those paths (or
    probing both flags per lead, `probed`) with its one-row write, COMMIT, the final status. The same round trips
    as the job, and of its computing only the counts. Milliseconds."""
    started = time.perf_counter()
    status = StatusBlob.start(JobName.INBOX_COUNTS, client_id, _CONTEXT, datetime.now(UTC))
    db.run("BEGIN")
    paths = inbox_paths(db, client_id)
    cache.write_status(status)
    least_pass(db, client_id, {"probe_review": True, "probe_sent": True} if probed else paths)
    db.run("COMMIT")
    cache.write_status(status.finish(JobStatus.SUCCEEDED, changed=False, rowsWritten=0))
    return (time.perf_counter() - started) * 1000
