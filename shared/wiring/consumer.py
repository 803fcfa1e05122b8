"""One SQS batch through Powertools' BatchProcessor: parse, coalesce, run, and give every record an end.

Per record, in order: hand it back untouched if the invocation is out of time; dead-letter it at once if
it can never succeed; skip it as coalesced if an earlier record of this batch already ran its
workspace; else run its job. A failure becomes a decision of `shared.domain.retry`: a delayed resend (busy),
a retry with backoff (transient), the dead-letter queue (permanent) or, on the last attempt, the
final failure: status `failed`, one ERROR line and the dead-letter metric. The guard around each record, and
the failure path it takes, are shared with the sweeper: `shared.wiring.failure_path`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import deadline
from shared.contracts.errors import OutOfTimeError, PoisonMessageError, RecountError
from shared.contracts.events import (
    Envelope,
    WorkspaceEvent,
    parse_envelope,
)
from shared.contracts.keys import JobName
from shared.contracts.metrics import Metric
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.status import JobContext
from shared.domain.jobs import JobResult, Skip, idempotency_key, serves_dirty_marker
from shared.ports import Clients
from shared.telemetry import count, logger, milliseconds
from shared.wiring.failure_decision import Kind
from shared.wiring.failure_path import RecordGuard

RunJob = Callable[[Clients, Any, JobContext], JobResult]


@dataclass
class Consumer:
    """A function's consumer: which events it takes, and the job each runs."""

    job: JobName
    routes: dict[type[Envelope], RunJob]
    clients: Clients
    rng: random.Random = field(default_factory=random.Random)

    def handle_batch(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.clients.idempotency.register_lambda_context(context)
        batch = _Batch(self, context)
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(event=event, record_handler=batch.handle, processor=processor, context=context)
        )

    @property
    def guard(self) -> RecordGuard:
        return RecordGuard(self.clients, Kind.JOB, self.job, self.rng)


@dataclass
class _Batch:
    consumer: Consumer
    context: LambdaContext
    done: dict[str, JobResult | BaseException] = field(default_factory=dict)
    current: WorkspaceEvent | None = None  # the event of the record being handled, once its body is read

    def handle(self, record: SQSRecord) -> None:
        """The shared guard gives the record its end; here, only its work (`shared.wiring.failure_path`)."""
        self.current = None
        self.consumer.guard.run(
            record, self.context.get_remaining_time_in_millis(), self._handle, current=lambda: self.current
        )

    def _handle(self, record: SQSRecord, attempt: int) -> None:
        clients = self.consumer.clients
        left = deadline.left_s()
        if left is not None and left <= 0:
            raise OutOfTimeError("out of time before the record started: less than TIME_BUDGET_MARGIN_MS left")
        # Poison raises out of the work: it is dead-lettered after it, where the margin covers the send.
        parsed = parse_envelope(record.body)
        if type(parsed) not in self.consumer.routes or not isinstance(parsed, WorkspaceEvent):
            raise PoisonMessageError(f"{parsed.name.value} is not handled by the {self.consumer.job.value} function")
        event: WorkspaceEvent = parsed
        self.current = event
        logger.set_correlation_id(event.request_id)
        logger.append_keys(
            clientId=event.data.clientId,
            eventName=event.name.value,
            messageId=record.message_id,
            attempt=attempt,
            eventId=event.id,
            source=event.data.source,
        )
        client_id = event.data.clientId
        previous = self.done.get(client_id)
        # Coalesce only behind a record that really recomputed: its snapshot came after this batch was
        # received, so after every mark behind this record. A skip proves nothing about this record's mark.
        if isinstance(previous, JobResult) and previous.outcome is not None:
            if not serves_dirty_marker(event):
                self._remember_covered(event, previous.outcome)
            count(Metric.JOBS_SKIPPED_COALESCED)
            logger.info("coalesced with an earlier record of this batch", extra={"skipped": Skip.COALESCED.value})
            return
        if isinstance(previous, BaseException):
            raise previous
        context = JobContext(
            request_id=event.request_id, source=event.data.source, message_id=record.message_id, attempt=attempt
        )
        try:
            result = self.consumer.routes[type(event)](clients, event, context)
        except Exception as error:
            self.done[client_id] = error  # the later records of this workspace share its decision
            raise
        self.done[client_id] = result
        self._succeeded(result)

    def _remember_covered(self, event: WorkspaceEvent, covered: OutcomeRecord) -> None:
        """Remember this event id as done by the run that covered it, so a redelivery is a duplicate. Best
        effort: the work is done and its status is the true one; if the table refuses, a redelivery only
        recomputes once more (a recompute is idempotent in effect), so no retry, no failed status."""
        try:
            self.consumer.clients.idempotency.run_once(idempotency_key(self.consumer.job, event, None), lambda: covered)
        except RecountError as error:
            logger.warning(
                "coalesced, but its event id could not be remembered: a redelivery will recompute once more",
                extra={"idempotencyError": " ".join(str(error).split())},
            )

    def _succeeded(self, result: JobResult) -> None:
        if result.skipped is not None:
            metric = {
                Skip.DUPLICATE: Metric.JOBS_SKIPPED_DUPLICATE,
                Skip.CLEAN: Metric.JOBS_SKIPPED_CLEAN,
                Skip.DISABLED: Metric.JOBS_SKIPPED_DISABLED,
                Skip.COALESCED: Metric.JOBS_SKIPPED_COALESCED,
            }
            count(metric[result.skipped])
            logger.info("skipped", extra={"skipped": result.skipped.value, "reason": result.reason})
            return
        outcome = result.outcome
        count(Metric.JOBS_SUCCEEDED)
        milliseconds(Metric.RECOMPUTE_DURATION, float(outcome.duration_ms if outcome else 0))
        if outcome is not None and outcome.marker_cleared and outcome.dirty_at is not None:
            dirty_at = outcome.dirty_at.replace(tzinfo=UTC)
            milliseconds(Metric.FRESHNESS_LAG, (datetime.now(UTC) - dirty_at).total_seconds() * 1000)
        logger.info("recomputed", extra={"outcome": outcome.model_dump(mode="json") if outcome else {}})
