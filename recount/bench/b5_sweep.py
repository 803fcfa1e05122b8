"""B5: one inbox sweep over N dirty workspaces: wall time, PostgreSQL statements and SQS calls."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from recount.targets import Target
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.sqs import QueueClient
from shared.contracts.client_id import CLIENT_ID_SQL
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, StoreSettings, SweepSettings
from shared.domain.sweep import sweep_inbox
from shared.queries import query
from shared.wiring.clients import EnvironmentClients, Given


@dataclass(frozen=True)
class B5Result:
    workspaces: int
    seconds: float
    postgres_statements: int
    sqs_calls: int
    enqueued: int
    scan_workspaces: int
    scan_seconds: float
    scan_statements: int


def scan(database_url: str, workspaces: int) -> tuple[float, int]:
    """The sweep's database side alone over `workspaces` markers: the backlog query and every page."""
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    db.run('DELETE FROM "InboxCountsDirty"')  # marks earlier benchmarks left in this run's database
    _mark(db, workspaces, prefix="scan-")
    started = time.perf_counter()
    db.run(query("sweep", "dirty_backlog"), **CLIENT_ID_SQL)
    after_at, after_id, seen = datetime(1970, 1, 1), "", 0
    while True:
        rows = db.run(
            query("sweep", "dirty_page"),
            after_at=after_at,
            after_id=after_id,
            min_age_s=0,
            page_size=500,
            **CLIENT_ID_SQL,
        )
        seen += len(rows)
        if len(rows) < 500:
            break
        after_at, after_id = rows[-1]["dirty_at"], rows[-1]["client_id"]
    seconds, trips = time.perf_counter() - started, db.statements - 2
    db.run("DELETE FROM \"Client\" WHERE id LIKE 'scan-%'")
    db.close()
    assert seen == workspaces, (seen, workspaces)
    return seconds, trips


def _mark(db: PostgresDatabase, workspaces: int, prefix: str) -> None:
    db.run(
        'INSERT INTO "Client" (id, name, "userId", "updatedAt") '
        "SELECT :prefix || g, 'sweep', 'u', now() FROM generate_series(1, CAST(:n AS integer)) g "
        "ON CONFLICT DO NOTHING",
        n=workspaces,
        prefix=prefix,
    )
    db.run(
        'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") '
        "SELECT :prefix || g, now() AT TIME ZONE 'UTC' - interval '1 minute' "
        "FROM generate_series(1, CAST(:n AS integer)) g ON CONFLICT DO NOTHING",
        n=workspaces,
        prefix=prefix,
    )


def measure(database_url: str, redis_url: str, target: Target, workspaces: int, scan_workspaces: int) -> B5Result:
    scan_seconds, scan_trips = scan(database_url, scan_workspaces)
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    db.run('DELETE FROM "InboxCountsDirty"')
    _mark(db, workspaces, prefix="sweep-")
    db.run("ANALYZE")
    sqs = QueueClient(endpoint_url=target.endpoint_url, region_name=target.region)
    clients = EnvironmentClients(
        stores=StoreSettings(DATABASE_URL=database_url, REDIS_URL=redis_url),
        recompute=RecomputeSettings(),
        queues=QueueSettings.model_validate(target.queue_environment()),
        function=FunctionSettings(IDEMPOTENCY_TABLE_NAME="unused"),
        sweep=SweepSettings(
            SWEEP_MAX_WORKSPACES=max(workspaces, 10),
            SWEEP_PAGE_SIZE=min(500, max(workspaces, 10)),
            SWEEP_MIN_AGE_SECONDS=0,
        ),
        given=Given(sqs=sqs),
    )
    started = time.perf_counter()
    report = sweep_inbox(clients, "bench-sweep")
    seconds = time.perf_counter() - started
    result = B5Result(
        workspaces,
        seconds,
        cast(PostgresDatabase, clients.db).statements,
        sqs.calls,
        report.enqueued,
        scan_workspaces,
        scan_seconds,
        scan_trips,
    )
    db.run("DELETE FROM \"Client\" WHERE id LIKE 'sweep-%'")
    clients.close()
    db.close()
    return result
