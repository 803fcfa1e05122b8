"""B4: the pipeline on the local runtime under a sustained dirty-event rate over many workspaces."""

from __future__ import annotations

import time
from dataclasses import dataclass

from recount.local.pipeline import LocalPipeline
from recount.local.provision import aws_client
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.metrics import Metric

_CREATE = (
    'INSERT INTO "Client" (id, name, "userId", "updatedAt") '
    "SELECT 'b4-' || g, 'b4', 'u', now() FROM generate_series(1, CAST(:n AS integer)) g ON CONFLICT DO NOTHING"
)
_LEADS = (
    'INSERT INTO "Lead" (id, "clientId", status, "lastInboundAt", "assignedToUserId", "updatedAt") '
    "SELECT gen_random_uuid()::text, 'b4-' || (1 + g % CAST(:n AS integer)), 'new', now() - random() * "
    "interval '3 days', 'setter-' || (g % 3), now() FROM generate_series(1, CAST(:n AS integer) * 20) g"
)
_MARK = (
    'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") '
    "SELECT unnest(CAST(:ids AS text[])), now() AT TIME ZONE 'UTC' "
    'ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt"'
)


@dataclass(frozen=True)
class B4Result:
    workspaces: int
    target_rate: float
    sent: int
    achieved_rate: float
    recomputes: int
    coalesced: int
    skipped_clean: int
    busy: int
    freshness_p50_ms: float
    freshness_p95_ms: float
    freshness_max_ms: float
    drain_s: float
    freshness_samples: tuple[float, ...]

    @property
    def recomputes_per_event(self) -> float:
        return self.recomputes / self.sent if self.sent else 0.0


def measure(pipeline: LocalPipeline, workspaces: int, rate: float, duration_s: float) -> B4Result:
    assert pipeline.database_url
    db = PostgresDatabase(pipeline.database_url, statement_timeout_ms=120_000)
    db.run(_CREATE, n=workspaces)
    db.run(_LEADS, n=workspaces)
    ids = [f"b4-{i}" for i in range(1, workspaces + 1)]
    sqs = aws_client("sqs", pipeline.target.endpoint_url or "")
    url = pipeline.target.queue_urls["counts"]
    ticks_per_second = rate / 10
    started = time.monotonic()
    next_at = started
    sent = 0
    index = 0
    while time.monotonic() - started < duration_s:
        batch = [ids[(index + k * 7) % len(ids)] for k in range(10)]  # spread over the workspaces
        index += 1
        db.run(_MARK, ids=batch)
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(k),
                    "MessageBody": to_body(
                        new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="bench")
                    ),
                }
                for k, client_id in enumerate(batch)
            ],
        )
        sent += len(batch)
        next_at += 1 / ticks_per_second
        time.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - started
    drain_started = time.monotonic()
    while time.monotonic() - drain_started < 300:
        markers = db.run('SELECT count(*)::int AS n FROM "InboxCountsDirty"')[0]["n"]
        if pipeline.idle() and markers == 0:
            break
        time.sleep(0.25)
    drain_s = time.monotonic() - drain_started
    freshness = pipeline.stats.freshness()
    with pipeline.stats.lock:
        samples = tuple(pipeline.stats.freshness_ms)
    db.close()
    stats = pipeline.stats
    return B4Result(
        workspaces,
        rate,
        sent,
        sent / elapsed,
        stats.total(Metric.JOBS_SUCCEEDED),
        stats.total(Metric.JOBS_SKIPPED_COALESCED),
        stats.total(Metric.JOBS_SKIPPED_CLEAN),
        stats.total(Metric.JOBS_BUSY),
        freshness["p50"],
        freshness["p95"],
        freshness["max"],
        drain_s,
        samples,
    )
