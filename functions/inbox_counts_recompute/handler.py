"""inbox.counts.dirty and inbox.counts.recompute, from the counts and counts-high queues."""

from __future__ import annotations

# First: the collector waits until the modules below are loaded (shared/coldstart.py).
from shared import coldstart

# isort: split
from typing import Any

# Before pydantic: loaded after it, Powertools' batch module also loads its parser models (~60 ms of cold start).
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contracts.events import InboxCountsDirty, InboxCountsRecompute
from shared.contracts.keys import JobName
from shared.domain.jobs import run_inbox_counts
from shared.telemetry import capture_lambda_handler, logger, metrics
from shared.wiring.clients import EnvironmentClients
from shared.wiring.consumer import Consumer

consumer = Consumer(
    JobName.INBOX_COUNTS,
    {InboxCountsDirty: run_inbox_counts, InboxCountsRecompute: run_inbox_counts},
    EnvironmentClients(),
)


@logger.inject_lambda_context(clear_state=True)
@capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consumer.handle_batch(event, context)


coldstart.loaded()
