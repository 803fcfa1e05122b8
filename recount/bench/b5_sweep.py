"""B5: one inbox sweep over N dirty workspaces: wall time, PostgreSQL statements and SQS calls; then the same
sweep again with its sends discarded, which shows how much of the time was moto's SQS."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from recount.commands.targets import Target
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.sqs import QueueClient
from shared.contracts.client_id import CLIENT_ID_SQL
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, SweepSettings
from shared.contracts.store_settings import StoreSettings
from shared.contracts.time_budget import AwsCallLimits
from shared.domain.sweep import sweep_inbox
from shared.ports import OutgoingMessage, QueueSender
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
    seconds_without_sqs: float = 0.0  # the same sweep, its SendMessageBatch calls answered at once in process


def scan(database_url: str, workspaces: int) -> tuple[float, int]:
    """The sweep's database side alone over `workspaces` markers: the backlog query and every page."""
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    db.run('DELETE FROM "InboxCountsDirty"')  # marks earlier benchmarks left in this run's database
    _mark(db, workspaces, prefix="scan-")
    started, before = time.perf_counter(), db.statements
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
    seconds, trips = time.perf_counter() - started, db.statements - before  # the timed statements, no other
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


class _DiscardingSender:
    """A QueueSender that answers at once and keeps nothing: the sweep without SQS's cost."""

    def send(self, queue_url: str, message: OutgoingMessage) -> str:
        return "discarded"

    def send_batch(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        return ["discarded"] * len(messages)

    def change_visibility(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        return None


def measure(database_url: str, redis_url: str, target: Target, workspaces: int, scan_workspaces: int) -> B5Result:
    scan_seconds, scan_trips = scan(database_url, scan_workspaces)
    db = PostgresDatabase(database_url, statement_timeout_ms=120_000)
    db.run('DELETE FROM "InboxCountsDirty"')
    _mark(db, workspaces, prefix="sweep-")
    db.run("ANALYZE")
    # The operator's side of the sweep, timed whole: no Lambda deadline bounds it, so moto's server, busy with
    # every batch at once, may take longer than a function's 3 s read timeout to answer.
    sqs = QueueClient(endpoint_url=target.endpoint_url, region_name=target.region, limits=AwsCallLimits(2, 60, 3))

    def sweep_clients(sender: QueueSender) -> EnvironmentClients:
        return EnvironmentClients(
            stores=StoreSettings(DATABASE_URL=database_url, REDIS_URL=redis_url),
            recompute=RecomputeSettings(),
            queues=QueueSettings.model_validate(target.queue_environment()),
            function=FunctionSettings(IDEMPOTENCY_TABLE_NAME="unused"),
            sweep=SweepSettings(
                SWEEP_MAX_WORKSPACES=max(workspaces, 10),
                SWEEP_PAGE_SIZE=min(500, max(workspaces, 10)),
                SWEEP_MIN_AGE_SECONDS=0,
            ),
            given=Given(sqs=sender),
        )

    clients = sweep_clients(sqs)
    started = time.perf_counter()
    report = sweep_inbox(clients, "bench-sweep")
    seconds = time.perf_counter() - started
    statements = cast(PostgresDatabase, clients.db).statements
    clients.close()
    # The sweep leaves the marks (the recomputes clear them): the same sweep again, its sends discarded.
    clients = sweep_clients(_DiscardingSender())
    started = time.perf_counter()
    sweep_inbox(clients, "bench-sweep-no-sqs")
    seconds_without_sqs = time.perf_counter() - started
    clients.close()
    result = B5Result(
        workspaces,
        seconds,
        statements,
        sqs.calls,
        report.enqueued,
        scan_workspaces,
        scan_seconds,
        scan_trips,
        seconds_without_sqs,
    )
    db.run("DELETE FROM \"Client\" WHERE id LIKE 'sweep-%'")
    db.close()
    return result
