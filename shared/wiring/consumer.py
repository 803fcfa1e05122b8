"""One SQS batch through Powertools' BatchProcessor: parse, coalesce, run, and give every record an end.

Per record, in order: hand it back untouched if the invocation is out of time; dead-letter it at once if
it can never succeed; skip it as coalesced if an earlier record of this batch already ran its
workspace; else run its job. A failure becomes a decision of `shared.domain.retry`: a delayed resend (busy),
a retry with backoff (transient), the dead-letter queue (permanent) or, on the last attempt, the
final failure: status `failed`, one ERROR line and the dead-letter metric.
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
    WORKSPACE_EVENTS,
    Envelope,
    WorkspaceEvent,
    parse_envelope,
)
from shared.contracts.keys import JobName
from shared.contracts.metrics import Metric
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.deadline import Deadline
from shared.domain.jobs import JobResult, Skip, idempotency_key, serves_dirty_marker
from shared.domain.retry import Action
from shared.ports import Clients, OutgoingMessage
from shared.telemetry import count, logger, milliseconds
from shared.wiring.records import (
    RecordFailed,
    RecordHandedBack,
    dead_letter,
    decision_for,
    queue_url_of,
    reset_record_keys,
    undone,
)

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

    def queue_url_of(self, record: SQSRecord) -> str:
        return queue_url_of(self.clients, record)


@dataclass
class _Batch:
    consumer: Consumer
    context: LambdaContext
    done: dict[str, JobResult | BaseException] = field(default_factory=dict)
    current: WorkspaceEvent | None = None  # the event of the record being handled, once its body is read

    def handle(self, record: SQSRecord) -> None:
        """Every exception from any step of a record (hand back, parse, coalesce, run, resend, dead-letter)
        becomes a decision here, by construction: none leaves without a log line, a metric and an end. The
        work runs under the record's deadline; what follows it, under the invocation's end (`shared.deadline`)."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        reset_record_keys()
        self.current = None
        record_deadline = Deadline.for_record(
            self.context.get_remaining_time_in_millis(), self.consumer.clients.queues.time_budget_margin_ms
        )
        try:
            with deadline.within(record_deadline):
                self._handle(record, attempt)
        except (RecordHandedBack, RecordFailed):
            raise
        except Exception as error:
            with deadline.within(record_deadline.closing()):
                try:
                    if isinstance(error, OutOfTimeError):
                        self._hand_back(record, attempt, error)
                    else:
                        self._failed(record, self.current, error, attempt)
                except (RecordHandedBack, RecordFailed):
                    raise
                except Exception as failure:  # the decision could not be carried out (SQS refused the resend)
                    if isinstance(error, OutOfTimeError) and attempt >= self.consumer.clients.queues.max_receive_count:
                        self._lost_to_redrive(record, failure)
                    undone(error, failure)

    def _lost_to_redrive(self, record: SQSRecord, failure: BaseException) -> None:
        """Out of time on the last receive, and not even the fresh copy could be sent: the queue's redrive moves
        this valid, untouched message to the dead-letter queue. Say so as the final failure it is."""
        count(Metric.JOBS_DEAD_LETTERED)
        logger.error(
            "out of time on the last receive, and the fresh copy could not be sent: the queue's redrive moves "
            "the message to its dead-letter queue (`recount dlq redrive` sends it back)",
            extra={"decisionError": " ".join(str(failure).split()), "body": record.body},
        )
        raise RecordFailed(str(failure)) from failure

    def _handle(self, record: SQSRecord, attempt: int) -> None:
        clients = self.consumer.clients
        left = deadline.left_s()
        if left is not None and left <= 0:
            raise OutOfTimeError("out of time before the record started: less than TIME_BUDGET_MARGIN_MS left")
        # Poison raises out of the work: it is dead-lettered after it, where the margin covers the send.
        parsed = parse_envelope(record.body)
        if type(parsed) not in self.consumer.routes or not isinstance(parsed, WORKSPACE_EVENTS):
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

    def _remember_covered(self, event: WorkspaceEvent, covered: dict[str, Any]) -> None:
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

    def _hand_back(self, record: SQSRecord, attempt: int, reason: OutOfTimeError) -> None:
        """Out of time: return the record untouched, at once, without backoff. On its last receive a
        hand-back would let the redrive dead-letter a valid message, so it is re-sent as a fresh copy."""
        clients = self.consumer.clients
        url = self.consumer.queue_url_of(record)
        count(Metric.RECORDS_HANDED_BACK)
        if self.current is not None:  # its work had started: say which call the deadline stopped
            logger.info("out of time: handed back untouched", extra={"reason": str(reason)})
        if attempt >= clients.queues.max_receive_count:
            clients.sqs.send(url, OutgoingMessage(record.body))
            logger.info(
                "out of time on the last receive: re-sent as a fresh copy", extra={"messageId": record.message_id}
            )
            return
        clients.sqs.change_visibility(url, record.receipt_handle, 0)
        raise RecordHandedBack(record.message_id)

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
        outcome = result.outcome or {}
        count(Metric.JOBS_SUCCEEDED)
        milliseconds(Metric.RECOMPUTE_DURATION, float(outcome.get("durationMs", 0)))
        if outcome.get("markerCleared") and outcome.get("dirtyAt"):
            dirty_at = datetime.fromisoformat(outcome["dirtyAt"]).replace(tzinfo=UTC)
            milliseconds(Metric.FRESHNESS_LAG, (datetime.now(UTC) - dirty_at).total_seconds() * 1000)
        logger.info("recomputed", extra={"outcome": outcome})

    def _failed(self, record: SQSRecord, event: WorkspaceEvent | None, error: BaseException, attempt: int) -> None:
        clients = self.consumer.clients
        queues = clients.queues
        decision = decision_for(clients, error, attempt, self.consumer.rng)
        source_url = self.consumer.queue_url_of(record)
        if decision.action is Action.RESEND:
            clients.sqs.send(source_url, OutgoingMessage(record.body, delay_seconds=decision.delay_seconds))
            count(Metric.JOBS_BUSY)
            logger.info("workspace busy: resent with a delay", extra={"delaySeconds": decision.delay_seconds})
            return
        if decision.action is Action.DEAD_LETTER_NOW:
            self._dead_letter(record, decision.reason, attempt, event)
            return
        self._write_failed_status(event, decision.reason, attempt, record.message_id)
        count(Metric.JOBS_FAILED)
        if decision.action is Action.GIVE_UP:
            count(Metric.JOBS_DEAD_LETTERED)
            logger.error(
                "final attempt failed: the queue moves the message to its dead-letter queue",
                extra={
                    "lastError": decision.reason,
                    "maxReceiveCount": queues.max_receive_count,
                    "body": record.body,
                    "queueUrl": source_url,
                },
            )
            clients.sqs.change_visibility(source_url, record.receipt_handle, 0)  # redrive now, not later
        else:
            count(Metric.JOBS_RETRIED)
            logger.warning(
                "attempt failed: retrying with backoff",
                extra={"lastError": decision.reason, "delaySeconds": decision.delay_seconds},
            )
            clients.sqs.change_visibility(source_url, record.receipt_handle, decision.delay_seconds)
        raise RecordFailed(decision.reason) from error

    def _dead_letter(self, record: SQSRecord, reason: str, attempt: int, event: WorkspaceEvent | None) -> None:
        # The status first: if the send then fails, the record comes back, but its status never stays running.
        self._write_failed_status(event, reason, attempt, record.message_id)
        dead_letter(self.consumer.clients, record, reason, self.consumer.queue_url_of(record), attempt)

    def _write_failed_status(self, event: WorkspaceEvent | None, reason: str, attempt: int, message_id: str) -> None:
        if event is None:  # failed before its body was read: no workspace to write a status for
            return
        context = JobContext(event.request_id, event.data.source, message_id, attempt)
        blob = StatusBlob.start(self.consumer.job, event.data.clientId, context, datetime.now(UTC))
        try:
            self.consumer.clients.versions.write_status(blob.finish(JobStatus.FAILED, lastError=reason))
        except RecountError as error:  # Redis may be what failed; the log line and metric still say it
            logger.warning("could not write the failed status", extra={"statusError": str(error)})
