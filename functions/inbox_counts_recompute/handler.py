"""inbox.counts.dirty and inbox.counts.recompute, from the counts and counts-high queues."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.consumer import Consumer
from shared.events import InboxCountsDirty, InboxCountsRecompute
from shared.jobs import run_inbox_counts
from shared.keys import JobName
from shared.runtime import Runtime
from shared.telemetry import logger, metrics, tracer

consumer = Consumer(
    JobName.INBOX_COUNTS, {InboxCountsDirty: run_inbox_counts, InboxCountsRecompute: run_inbox_counts}, Runtime()
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consumer.handle_batch(event, context)
