"""The sweeper's consumer: each sweep event runs its sweep; a failed sweep is retried with backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contracts.errors import PoisonMessageError
from shared.contracts.events import AnalyticsAggregatesSweep, InboxCountsSweep, parse_envelope
from shared.domain.sweep import sweep_analytics, sweep_inbox
from shared.ports import Clients
from shared.telemetry import logger
from shared.wiring.failure_decision import Kind
from shared.wiring.failure_path import RecordGuard


@dataclass
class SweepConsumer:
    """The sweeper's consumer: each sweep event runs its sweep; a failed sweep is retried with backoff."""

    clients: Clients
    rng: random.Random = field(default_factory=random.Random)

    def handle_batch(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

        def handle(record: SQSRecord) -> None:
            self.handle(record, context.get_remaining_time_in_millis())

        return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))

    def handle(self, record: SQSRecord, remaining_ms: int) -> None:
        """The shared guard gives the record its end (`shared.wiring.failure_path`): the sweep runs under the
        record's deadline, and one that runs out of time is retried like any failure."""
        RecordGuard(self.clients, Kind.SWEEP, rng=self.rng).run(record, remaining_ms, self._handle)

    def _handle(self, record: SQSRecord, attempt: int) -> None:
        # Poison raises out of the work: it is dead-lettered after it, where the margin covers the send.
        parsed = parse_envelope(record.body)
        if not isinstance(parsed, InboxCountsSweep | AnalyticsAggregatesSweep):
            raise PoisonMessageError(f"{parsed.name.value} is not handled by the sweeper function")
        logger.set_correlation_id(parsed.request_id)
        logger.append_keys(eventName=parsed.name.value, messageId=record.message_id, attempt=attempt)
        if isinstance(parsed, InboxCountsSweep):
            sweep_inbox(self.clients, parsed.request_id)
        else:
            sweep_analytics(self.clients, parsed.request_id)
