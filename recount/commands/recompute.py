"""recompute: workspaces recomputed now, on the functions' code path, on the stores the environment names."""

from __future__ import annotations

import time
import uuid

from shared.contracts.errors import BusyError, RecountError
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings, StoreSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute, RecomputeOutcome
from shared.stores import open_cache, open_database


def recompute(job: JobName, client_ids: list[str], wait_s: float) -> list[RecomputeOutcome]:
    """Each workspace in turn, waiting up to `wait_s` seconds for a running recompute of it."""
    recompute_settings = RecomputeSettings()
    if job is JobName.ANALYTICS_AGGREGATES and not recompute_settings.analytics_aggregates_enabled:
        raise RecountError("analytics aggregates are disabled: set ANALYTICS_AGGREGATES_ENABLED=true")
    store_settings = StoreSettings()
    db, cache = open_database(store_settings), open_cache(store_settings, recompute_settings)
    # Reach both stores before anything is written: an unreachable one leaves no trace at all.
    db.run("SELECT 1")
    cache.ping()
    runner = Recompute(job, db, cache, recompute_settings)
    request_id = f"cli-{uuid.uuid4()}"
    try:
        return [_run_waiting(runner, client_id, JobContext(request_id, "manual"), wait_s) for client_id in client_ids]
    finally:
        db.close()
        cache.close()


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
