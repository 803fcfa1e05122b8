"""B5: one inbox sweep over N dirty workspaces: wall time, PostgreSQL round trips and SQS calls."""

from __future__ import annotations

import time
from dataclasses import dataclass

from recount.targets import Target
from shared.postgres import PostgresDatabase
from shared.runtime import Runtime
from shared.settings import FunctionSettings, QueueSettings, RecomputeSettings, StoreSettings, SweepSettings
from shared.sqs import QueueClient
from shared.sweep import sweep_inbox


@dataclass(frozen=True)
class B5Result:
    workspaces: int
    seconds: float
    postgres_round_trips: int
    sqs_calls: int
    enqueued: int


def measure(database_url: str, redis_url: str, target: Target, workspaces: int) -> B5Result:
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    db.run('INSERT INTO "Client" (id, name, "userId", "updatedAt") '
           "SELECT 'sweep-' || g, 'sweep', 'u', now() FROM generate_series(1, CAST(:n AS integer)) g "
           "ON CONFLICT DO NOTHING", n=workspaces)
    db.run('INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") '
           "SELECT 'sweep-' || g, now() AT TIME ZONE 'UTC' - interval '1 minute' "
           "FROM generate_series(1, CAST(:n AS integer)) g ON CONFLICT DO NOTHING", n=workspaces)
    db.run("ANALYZE")
    runtime = Runtime(stores=StoreSettings(DATABASE_URL=database_url, REDIS_URL=redis_url),
                      recompute=RecomputeSettings(),
                      queues=QueueSettings.model_validate(target.queue_environment()),
                      function=FunctionSettings(IDEMPOTENCY_TABLE_NAME="unused"),
                      sweep=SweepSettings(SWEEP_MAX_WORKSPACES=max(workspaces, 10), SWEEP_PAGE_SIZE=500,
                                          SWEEP_MIN_AGE_SECONDS=0))
    runtime.__dict__["sqs"] = QueueClient(endpoint_url=target.endpoint_url, region_name=target.region)
    started = time.perf_counter()
    report = sweep_inbox(runtime, "bench-sweep")
    seconds = time.perf_counter() - started
    result = B5Result(workspaces, seconds, runtime.db.round_trips, runtime.sqs.calls, report.enqueued)
    db.run("DELETE FROM \"Client\" WHERE id LIKE 'sweep-%'")
    runtime.close()
    db.close()
    return result
