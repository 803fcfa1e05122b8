"""What both consumers do with a record they cannot finish: the failure path they share.

A failure becomes a decision of `shared.domain.retry`; this module makes that decision with the function's
queue settings, dead-letters what can never succeed, and maps a record back to its queue.
"""

from __future__ import annotations

import contextlib
import random

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.adapters.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE
from shared.contracts.errors import PermanentError, RecountError
from shared.contracts.metrics import Metric
from shared.domain.retry import RetryDecision, decide
from shared.ports import Clients, OutgoingMessage
from shared.telemetry import count, logger
from shared.topology import QUEUES


class RecordHandedBack(Exception):  # noqa: N818 (not an error: the record is returned for redelivery)
    """The invocation ran out of time before this record started."""


class RecordFailed(Exception):  # noqa: N818 (the batch item failure; its cause is already logged)
    """The record failed and will be retried by the queue."""


def decision_for(clients: Clients, error: BaseException, attempt: int, rng: random.Random) -> RetryDecision:
    """shared.domain.retry's decision, with this function's queue settings."""
    queues = clients.queues
    return decide(
        error,
        attempt,
        max_receive_count=queues.max_receive_count,
        base_s=queues.backoff_base_s,
        max_s=queues.backoff_max_s,
        busy_delay_s=queues.busy_delay_s,
        rng=rng,
    )


_RECORD_KEYS = ["clientId", "eventName", "messageId", "attempt", "eventId", "source"]


def reset_record_keys() -> None:
    """Log keys belong to one record: never let a record's line carry the previous record's workspace."""
    logger.remove_keys(_RECORD_KEYS)
    logger.set_correlation_id(None)


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


def dead_letter(clients: Clients, record: SQSRecord, reason: str, source_url: str, attempt: int = 1) -> None:
    """Send a message that can never succeed to its source queue's dead-letter queue with its reason; the
    source deletes it.
    If the send fails, the ERROR line still names the reason; the record fails its batch, comes back, and on
    its last receive the queue's redrive moves it (with the same ERROR line then, and JobsDeadLettered)."""
    dead_letter_url = dead_letter_url_of(clients, source_url)
    extra = {"reason": reason, "messageId": record.message_id, "body": record.body[:2048], "queueUrl": source_url}
    try:
        if not dead_letter_url:
            raise PermanentError(f"no dead-letter queue is configured for {_queue_name(source_url)}")
        clients.sqs.send(
            dead_letter_url,
            OutgoingMessage(record.body, attributes={REASON_ATTRIBUTE: reason, SOURCE_QUEUE_ATTRIBUTE: source_url}),
        )
    except RecountError as error:
        last = attempt >= clients.queues.max_receive_count
        if last:
            count(Metric.JOBS_DEAD_LETTERED)
        logger.error(
            "message can never succeed, and it could not be sent to the dead-letter queue: "
            + ("the queue's redrive moves it" if last else "it comes back to be sent again"),
            extra={**extra, "sendError": " ".join(str(error).split())},
        )
        with contextlib.suppress(RecountError):  # at once on the last receive; else after a short wait
            clients.sqs.change_visibility(source_url, record.receipt_handle, 0 if last else 1)
        raise RecordFailed(reason) from error
    count(Metric.JOBS_DEAD_LETTERED)
    logger.error("message can never succeed: sent to the dead-letter queue", extra=extra)


def undone(error: BaseException, failure: BaseException) -> None:
    """A decision that could not be carried out (its send or visibility change failed): the record fails its
    batch, so the queue brings it back after its visibility timeout, and the line says both errors."""
    reason = " ".join(str(failure).split()) or type(failure).__name__
    count(Metric.JOBS_RETRIED)  # the queue brings it back: a retry, whatever the decision was
    logger.warning(
        "could not carry out the decision for a failed record: the queue retries it",
        extra={"lastError": " ".join(str(error).split()), "decisionError": reason},
    )
    raise RecordFailed(reason) from failure
