"""The failure path both consumers share: one guard per record, and one place that carries out its outcome.

The guard runs a record's work under the record's deadline; any exception becomes an outcome decided by
`failure_decision` (a pure function), carried out here under the invocation's end: the failed status, the
metrics and log lines, the queue call. If even that fails, the record fails its batch and says both errors.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared import deadline
from shared.adapters.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE
from shared.contracts.errors import PermanentError, RecountError
from shared.contracts.events import WorkspaceEvent
from shared.contracts.keys import JobName
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.deadline import Deadline
from shared.ports import Clients, OutgoingMessage
from shared.telemetry import count, logger
from shared.topology import QUEUES
from shared.wiring.failure_decision import End, Kind, Note, Outcome, RecordFacts, decide_outcome, undone_note


class RecordHandedBack(Exception):  # noqa: N818 (not an error: the record is returned for redelivery)
    """The invocation ran out of time before this record started."""


class RecordFailed(Exception):  # noqa: N818 (the batch item failure; its cause is already logged)
    """The record failed and will be retried by the queue."""


_RECORD_KEYS = ["clientId", "eventName", "messageId", "attempt", "eventId", "source"]


def reset_record_keys() -> None:
    """Log keys belong to one record: never let a record's line carry the previous record's workspace."""
    logger.remove_keys(_RECORD_KEYS)
    logger.set_correlation_id(None)


def _no_event() -> WorkspaceEvent | None:
    return None


@dataclass(frozen=True)
class RecordGuard:
    """Gives every record of a consumer an end: none leaves without a log line, a metric and a queue call."""

    clients: Clients
    kind: Kind
    job: JobName | None = None  # the job whose failed status is written (None: the sweeper writes none)
    rng: random.Random = field(default_factory=random.Random)

    def run(
        self,
        record: SQSRecord,
        remaining_ms: int,
        work: Callable[[SQSRecord, int], None],
        current: Callable[[], WorkspaceEvent | None] = _no_event,
    ) -> None:
        """`work(record, attempt)` runs under the record's deadline; `current()` is its event once its body was
        read. Every exception from any step (work, decision, status, send) becomes an end here."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        reset_record_keys()
        record_deadline = Deadline.for_record(remaining_ms, self.clients.queues.time_budget_margin_ms)
        try:
            with deadline.within(record_deadline):
                work(record, attempt)
        except (RecordHandedBack, RecordFailed):
            raise
        except Exception as error:
            with deadline.within(record_deadline.closing()):
                self._failed(record, attempt, error, current())

    def _failed(self, record: SQSRecord, attempt: int, error: Exception, event: WorkspaceEvent | None) -> None:
        outcome: Outcome | None = None
        try:
            facts = RecordFacts(record.body, record.message_id, queue_url_of(self.clients, record), event is not None)
            outcome = decide_outcome(error, attempt, facts, kind=self.kind, queues=self.clients.queues, rng=self.rng)
            self._carry_out(outcome, record, attempt, error, event)
        except (RecordHandedBack, RecordFailed):
            raise
        except Exception as failure:  # the decision could not be carried out (SQS refused the call)
            text = " ".join(str(failure).split()) or type(failure).__name__
            announce(outcome.undone if outcome else undone_note(error), decisionError=text)
            raise RecordFailed(text) from failure

    def _carry_out(
        self, outcome: Outcome, record: SQSRecord, attempt: int, error: Exception, event: WorkspaceEvent | None
    ) -> None:
        clients, url = self.clients, queue_url_of(self.clients, record)
        if outcome.write_failed_status and self.job is not None and event is not None:
            write_failed_status(clients, self.job, event, outcome.reason, attempt, record.message_id)
        announce(outcome.decided)
        if outcome.end is End.RESEND_COPY:
            clients.sqs.send(url, OutgoingMessage(record.body, delay_seconds=outcome.delay_seconds))
            announce(outcome.done)
        elif outcome.end is End.DEAD_LETTER:
            dead_letter(clients, record, outcome, url)
        elif outcome.end is End.HAND_BACK:
            clients.sqs.change_visibility(url, record.receipt_handle, 0)
            raise RecordHandedBack(record.message_id)
        else:  # a retry after its delay, or the last attempt's failure: visible at once for the redrive
            clients.sqs.change_visibility(url, record.receipt_handle, outcome.delay_seconds)
            raise RecordFailed(outcome.reason) from error


def announce(note: Note, **more: Any) -> None:
    """Count a note's metrics and log its line (with `more` keys), if it has one."""
    for metric in note.metrics:
        count(metric)
    if note.message is not None:
        getattr(logger, note.level.value)(note.message, extra={**note.extra, **more})


def write_failed_status(
    clients: Clients, job: JobName, event: WorkspaceEvent, reason: str, attempt: int, message_id: str
) -> None:
    context = JobContext(event.request_id, event.data.source, message_id, attempt)
    blob = StatusBlob.start(job, event.data.clientId, context, datetime.now(UTC))
    try:
        clients.versions.write_status(blob.finish(JobStatus.FAILED, lastError=reason))
    except RecountError as error:  # Redis may be what failed; the log line and metric still say it
        logger.warning("could not write the failed status", extra={"statusError": str(error)})


def queue_url_of(clients: Clients, record: SQSRecord) -> str:
    """The URL of the queue a record came from (its ARN's name matched against the configured URLs)."""
    name = record.event_source_arn.rsplit(":", 1)[-1]
    settings = clients.queues
    configured: dict[str, str | None] = settings.model_dump(by_alias=True)  # keyed by the variables' names
    for queue in QUEUES.values():
        url = configured.get(queue.url_variable)
        if url and url.rstrip("/").rsplit("/", 1)[-1] == name:
            return url
    region, account = record.event_source_arn.split(":")[3:5]
    base = (settings.endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
    return f"{base}/{account}/{name}"


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def dead_letter_url_of(clients: Clients, source_url: str) -> str | None:
    """The dead-letter queue of the queue a record came from, as the environment names it (None if unset)."""
    configured: dict[str, str | None] = clients.queues.model_dump(by_alias=True)  # keyed by the variables' names
    for queue in QUEUES.values():
        url = configured.get(queue.url_variable)
        if url and _queue_name(url) == _queue_name(source_url):
            return configured.get(queue.dead_letter_url_variable)
    return None


def dead_letter(clients: Clients, record: SQSRecord, outcome: Outcome, source_url: str) -> None:
    """Send a message that can never succeed to its source queue's dead-letter queue with its reason; the
    source deletes it.
    If the send fails, the ERROR line still names the reason; the record fails its batch, comes back, and on
    its last receive the queue's redrive moves it (with the same ERROR line then, and JobsDeadLettered)."""
    dead_letter_url = dead_letter_url_of(clients, source_url)
    try:
        if not dead_letter_url:
            raise PermanentError(f"no dead-letter queue is configured for {_queue_name(source_url)}")
        attributes = {REASON_ATTRIBUTE: outcome.reason, SOURCE_QUEUE_ATTRIBUTE: source_url}
        clients.sqs.send(dead_letter_url, OutgoingMessage(record.body, attributes=attributes))
    except RecountError as error:
        announce(outcome.not_sent, sendError=" ".join(str(error).split()))
        with contextlib.suppress(RecountError):  # at once on the last receive; else after a short wait
            clients.sqs.change_visibility(source_url, record.receipt_handle, 0 if outcome.last_receive else 1)
        raise RecordFailed(outcome.reason) from error
    announce(outcome.done)
