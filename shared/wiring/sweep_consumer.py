"""The sweeper's consumer: each sweep event runs its sweep; a failed sweep is retried with backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import deadline
from shared.contracts.errors import PoisonMessageError
from shared.contracts.events import AnalyticsAggregatesSweep, InboxCountsSweep, parse_envelope
from shared.contracts.metrics import Metric
from shared.deadline import Deadline
from shared.domain.retry import Action
from shared.domain.sweep import sweep_analytics, sweep_inbox
from shared.ports import Clients
from shared.telemetry import count, logger
from shared.wiring.records import RecordFailed, dead_letter, decision_for, queue_url_of, reset_record_keys, undone


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
        """Every exception from any step (parse, dead-letter, the sweep, its sends) becomes a decision here.
        The sweep runs under the record's deadline: one that runs out of time is retried like any failure."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        reset_record_keys()
        record_deadline = Deadline.for_record(remaining_ms, self.clients.queues.time_budget_margin_ms)
        try:
            with deadline.within(record_deadline):
                self._handle(record, attempt)
        except RecordFailed:
            raise
        except Exception as error:
            with deadline.within(record_deadline.closing()):
                try:
                    self._failed(record, error, attempt)
                except RecordFailed:
                    raise
                except Exception as failure:  # the decision could not be carried out (SQS refused it)
                    undone(error, failure)

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

    def _failed(self, record: SQSRecord, error: BaseException, attempt: int) -> None:
        decision = decision_for(self.clients, error, attempt, self.rng)
        if decision.action is Action.DEAD_LETTER_NOW:
            dead_letter(self.clients, record, decision.reason, queue_url_of(self.clients, record), attempt)
            return
        url = queue_url_of(self.clients, record)
        if decision.action is Action.GIVE_UP:
            count(Metric.JOBS_DEAD_LETTERED)
            logger.error("final sweep attempt failed", extra={"lastError": decision.reason, "body": record.body})
            self.clients.sqs.change_visibility(url, record.receipt_handle, 0)
        else:  # a retry; a busy sweep waits out its delay in place (a sweep is cheap to repeat, not to copy)
            count(Metric.JOBS_RETRIED)
            logger.warning(
                "sweep failed: retrying with backoff",
                extra={"lastError": decision.reason, "delaySeconds": decision.delay_seconds},
            )
            self.clients.sqs.change_visibility(url, record.receipt_handle, max(decision.delay_seconds, 1))
        raise RecordFailed(decision.reason) from error
