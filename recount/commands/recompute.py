"""recompute: workspaces recomputed now with the functions' recompute (not their idempotency: a clean workspace is
recomputed too), on the stores the environment names."""

from __future__ import annotations

import time
import uuid

from recount.commands.connections import environment_clients
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import BusyError, RecountError
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute, RecomputeOutcome


def recompute(job: JobName, client_ids: list[str], wait_s: float) -> list[RecomputeOutcome]:
    """Each workspace in turn, waiting up to `wait_s` seconds for a running recompute of it."""
    recompute_settings = RecomputeSettings()
    if job is JobName.ANALYTICS_AGGREGATES and not recompute_settings.analytics_aggregates_enabled:
        raise RecountError("analytics aggregates are disabled: set ANALYTICS_AGGREGATES_ENABLED=true")
    clients = environment_clients(redis=True, recompute=recompute_settings)
    try:
        # Reach both stores before anything is written: an unreachable one leaves no trace at all.
        clients.db.run("SELECT 1")
        versions = clients.versions
        assert isinstance(versions, RedisStore)  # built from settings
        versions.ping()
        runner = Recompute(job, clients.db, versions, recompute_settings)
        request_id = f"cli-{uuid.uuid4()}"
        return [_run_waiting(runner, client_id, JobContext(request_id, "manual"), wait_s) for client_id in client_ids]
    finally:
        clients.close()


def _run_waiting(recompute: Recompute, client_id: str, context: JobContext, wait_s: float) -> RecomputeOutcome:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return recompute.run(client_id, context)
        except BusyError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
