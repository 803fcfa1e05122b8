"""What to do with a record whose work raised, as a pure function: decided here, carried out in `failure_path`.

`shared.domain.retry` decides by (error, attempt); this module turns that into the record's whole outcome for
the consumer at hand: how the record ends, the delay, whether a failed status is written, and the metrics and
log lines that say so, before the queue call, after a send that succeeded, and if the queue call fails.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.contracts.errors import OutOfTimeError
from shared.contracts.metrics import Metric
from shared.contracts.settings import QueueSettings
from shared.domain.retry import Action, RetryDecision, decide


class Kind(StrEnum):
    JOB = "job"  # a job consumer: hands back what runs out of time, resends when busy, writes a failed status
    SWEEP = "sweep"  # the sweeper: out of time is a failure like any; busy waits in place; no status


class End(StrEnum):
    """How the record leaves the batch."""

    HAND_BACK = "hand_back"  # visible again at once, untouched; not a failure
    RESEND_COPY = "resend_copy"  # a copy goes back to its queue after `delay_seconds`; this one is deleted
    DEAD_LETTER = "dead_letter"  # to its dead-letter queue with the reason; this one is deleted
    RETRY = "retry"  # a batch item failure, visible again after `delay_seconds`
    GIVE_UP = "give_up"  # the last attempt failed: visible at once, so the queue's redrive moves it now


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Note:
    """Metrics to count and the one line (if any) to log with them."""

    metrics: tuple[Metric, ...] = ()
    level: Level = Level.INFO
    message: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordFacts:
    """What the decision needs of a record: plain values, so deciding needs no queue."""

    body: str
    message_id: str
    queue_url: str
    work_started: bool  # its body was read and its work began


@dataclass(frozen=True)
class Outcome:
    end: End
    reason: str
    decided: Note  # counted and logged once decided, before any queue call
    undone: Note  # if carrying it out fails: the record fails its batch and the queue brings it back
    done: Note = Note()  # counted and logged once its send went through
    not_sent: Note = Note()  # a dead-letter send that failed
    delay_seconds: int = 0
    write_failed_status: bool = False
    last_receive: bool = False


def decide_outcome(
    error: BaseException, attempt: int, record: RecordFacts, *, kind: Kind, queues: QueueSettings, rng: random.Random
) -> Outcome:
    """The whole outcome of a record whose work raised `error` on its `attempt`-th receive."""
    last = attempt >= queues.max_receive_count
    if kind is Kind.JOB and isinstance(error, OutOfTimeError):
        return _handed_back(error, record, last)
    decision = decide(
        error,
        attempt,
        max_receive_count=queues.max_receive_count,
        base_s=queues.backoff_base_s,
        max_s=queues.backoff_max_s,
        busy_delay_s=queues.busy_delay_s,
        rng=rng,
    )
    undone = undone_note(error)
    if decision.action is Action.DEAD_LETTER_NOW:
        return _dead_lettered(decision, record, kind, last, undone)
    if kind is Kind.SWEEP:
        return _sweep_failed(decision, record, undone)
    return _job_failed(decision, record, queues.max_receive_count, undone)


def undone_note(error: BaseException) -> Note:
    """A decision whose queue call failed: the record fails its batch and comes back; a retry, whatever it was."""
    return Note(
        (Metric.JOBS_RETRIED,),
        Level.WARNING,
        "could not carry out the decision for a failed record: the queue retries it",
        {"lastError": " ".join(str(error).split())},
    )


def _handed_back(error: OutOfTimeError, record: RecordFacts, last: bool) -> Outcome:
    # Only a record whose work had started says which call the deadline stopped.
    said = "out of time: handed back untouched" if record.work_started else None
    decided = Note((Metric.RECORDS_HANDED_BACK,), Level.INFO, said, {"reason": str(error)})
    reason = " ".join(str(error).split()) or type(error).__name__
    if not last:
        return Outcome(End.HAND_BACK, reason, decided, undone_note(error))
    # On its last receive a hand-back would let the redrive dead-letter a valid message: a fresh copy instead.
    return Outcome(
        End.RESEND_COPY,
        reason,
        decided,
        undone=Note(
            (Metric.JOBS_DEAD_LETTERED,),
            Level.ERROR,
            "out of time on the last receive, and the fresh copy could not be sent: the queue's redrive moves "
            "the message to its dead-letter queue (`recount dlq redrive` sends it back)",
            {"body": record.body},
        ),
        done=Note(
            (), Level.INFO, "out of time on the last receive: re-sent as a fresh copy", {"messageId": record.message_id}
        ),
        last_receive=True,
    )


def _dead_lettered(decision: RetryDecision, record: RecordFacts, kind: Kind, last: bool, undone: Note) -> Outcome:
    extra = {
        "reason": decision.reason,
        "messageId": record.message_id,
        "body": record.body[:2048],
        "queueUrl": record.queue_url,
    }
    fate = "the queue's redrive moves it" if last else "it comes back to be sent again"
    return Outcome(
        End.DEAD_LETTER,
        decision.reason,
        decided=Note(),
        undone=undone,
        done=Note(
            (Metric.JOBS_DEAD_LETTERED,), Level.ERROR, "message can never succeed: sent to the dead-letter queue", extra
        ),
        not_sent=Note(
            (Metric.JOBS_DEAD_LETTERED,) if last else (),
            Level.ERROR,
            "message can never succeed, and it could not be sent to the dead-letter queue: " + fate,
            extra,
        ),
        write_failed_status=kind is Kind.JOB,  # the status first: if the send fails, it never stays running
        last_receive=last,
    )


def _job_failed(decision: RetryDecision, record: RecordFacts, max_receive_count: int, undone: Note) -> Outcome:
    reason, delay = decision.reason, decision.delay_seconds
    if decision.action is Action.RESEND:
        done = Note((Metric.JOBS_BUSY,), Level.INFO, "workspace busy: resent with a delay", {"delaySeconds": delay})
        return Outcome(End.RESEND_COPY, reason, Note(), undone, done=done, delay_seconds=delay)
    if decision.action is Action.GIVE_UP:
        extra = {
            "lastError": reason,
            "maxReceiveCount": max_receive_count,
            "body": record.body,
            "queueUrl": record.queue_url,
        }
        message = "final attempt failed: the queue moves the message to its dead-letter queue"
        decided = Note((Metric.JOBS_FAILED, Metric.JOBS_DEAD_LETTERED), Level.ERROR, message, extra)
        return Outcome(End.GIVE_UP, reason, decided, undone, write_failed_status=True, last_receive=True)
    extra = {"lastError": reason, "delaySeconds": delay}
    decided = Note(
        (Metric.JOBS_FAILED, Metric.JOBS_RETRIED), Level.WARNING, "attempt failed: retrying with backoff", extra
    )
    return Outcome(End.RETRY, reason, decided, undone, delay_seconds=delay, write_failed_status=True)


def _sweep_failed(decision: RetryDecision, record: RecordFacts, undone: Note) -> Outcome:
    reason = decision.reason
    if decision.action is Action.GIVE_UP:
        extra: dict[str, Any] = {"lastError": reason, "body": record.body}
        decided = Note((Metric.JOBS_DEAD_LETTERED,), Level.ERROR, "final sweep attempt failed", extra)
        return Outcome(End.GIVE_UP, reason, decided, undone, last_receive=True)
    # A retry; a busy sweep waits out its delay in place (a sweep is cheap to repeat, not to copy).
    delay = max(decision.delay_seconds, 1)
    extra = {"lastError": reason, "delaySeconds": decision.delay_seconds}
    decided = Note((Metric.JOBS_RETRIED,), Level.WARNING, "sweep failed: retrying with backoff", extra)
    return Outcome(End.RETRY, reason, decided, undone, delay_seconds=delay)
