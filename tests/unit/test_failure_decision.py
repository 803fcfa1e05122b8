"""A failed record's whole outcome as a pure function: how it ends, with which delay, status, metrics and lines.

No queue, no store, no logger: `decide_outcome` is given plain values and returns a frozen value. What carrying
an outcome out does (the queue calls, the status written) is proven through the consumers in test_consumer.py.
"""

from __future__ import annotations

import random

import pytest

from shared.contracts.errors import BusyError, OutOfTimeError, PermanentError, PoisonMessageError, TransientError
from shared.contracts.metrics import Metric
from shared.contracts.settings import QueueSettings
from shared.wiring.failure_decision import End, Kind, Level, Outcome, RecordFacts, decide_outcome

LAST = 3  # MAX_RECEIVE_COUNT below
QUEUES = QueueSettings.model_validate(
    {"MAX_RECEIVE_COUNT": LAST, "BACKOFF_BASE_SECONDS": 2, "BACKOFF_MAX_SECONDS": 300, "BUSY_DELAY_SECONDS": 1}
)
URL = "https://queues.unit.test/123456789012/counts"


def facts(*, work_started: bool = True, body: str = '{"name": "x"}') -> RecordFacts:
    return RecordFacts(body=body, message_id="m0", queue_url=URL, work_started=work_started)


def outcome(error: BaseException, attempt: int, kind: Kind = Kind.JOB, record: RecordFacts | None = None) -> Outcome:
    return decide_outcome(error, attempt, record or facts(), kind=kind, queues=QUEUES, rng=random.Random(7))


@pytest.mark.parametrize(
    ("kind", "error", "attempt", "end", "decided", "done", "level", "status"),
    [
        # a job: out of time is handed back, or re-sent fresh on its last receive, never counted a failure
        (Kind.JOB, OutOfTimeError("t"), 1, End.HAND_BACK, (Metric.RECORDS_HANDED_BACK,), (), Level.INFO, False),
        (Kind.JOB, OutOfTimeError("t"), LAST, End.RESEND_COPY, (Metric.RECORDS_HANDED_BACK,), (), Level.INFO, False),
        # busy: a delayed copy; its metric is counted once the copy is sent
        (Kind.JOB, BusyError("b"), 1, End.RESEND_COPY, (), (Metric.JOBS_BUSY,), Level.INFO, False),
        (
            Kind.JOB,
            BusyError("b"),
            LAST,
            End.GIVE_UP,
            (Metric.JOBS_FAILED, Metric.JOBS_DEAD_LETTERED),
            (),
            Level.ERROR,
            True,
        ),
        (
            Kind.JOB,
            TransientError("x"),
            2,
            End.RETRY,
            (Metric.JOBS_FAILED, Metric.JOBS_RETRIED),
            (),
            Level.WARNING,
            True,
        ),
        (Kind.JOB, ValueError("bug"), 1, End.RETRY, (Metric.JOBS_FAILED, Metric.JOBS_RETRIED), (), Level.WARNING, True),
        (
            Kind.JOB,
            TransientError("x"),
            LAST,
            End.GIVE_UP,
            (Metric.JOBS_FAILED, Metric.JOBS_DEAD_LETTERED),
            (),
            Level.ERROR,
            True,
        ),
        # can never succeed: to the dead-letter queue at once, on any attempt; counted once it is there
        (Kind.JOB, PermanentError("p"), 1, End.DEAD_LETTER, (), (Metric.JOBS_DEAD_LETTERED,), Level.INFO, True),
        (Kind.JOB, PoisonMessageError("p"), LAST, End.DEAD_LETTER, (), (Metric.JOBS_DEAD_LETTERED,), Level.INFO, True),
        # the sweeper: out of time and busy are retried in place; no status is ever written
        (Kind.SWEEP, OutOfTimeError("t"), 1, End.RETRY, (Metric.JOBS_RETRIED,), (), Level.WARNING, False),
        (Kind.SWEEP, BusyError("b"), 1, End.RETRY, (Metric.JOBS_RETRIED,), (), Level.WARNING, False),
        (Kind.SWEEP, TransientError("x"), LAST, End.GIVE_UP, (Metric.JOBS_DEAD_LETTERED,), (), Level.ERROR, False),
        (Kind.SWEEP, PoisonMessageError("p"), 1, End.DEAD_LETTER, (), (Metric.JOBS_DEAD_LETTERED,), Level.INFO, False),
    ],
)
def test_given_a_failure_then_the_outcome_names_its_end_metrics_level_and_status(
    kind: Kind,
    error: BaseException,
    attempt: int,
    end: End,
    decided: tuple[Metric, ...],
    done: tuple[Metric, ...],
    level: Level,
    status: bool,
) -> None:
    decision = outcome(error, attempt, kind)
    assert decision.end is end
    assert (decision.decided.metrics, decision.done.metrics) == (decided, done)
    assert decision.decided.level is level
    assert decision.write_failed_status is status


@pytest.mark.parametrize(("attempt", "last"), [(1, False), (LAST - 1, False), (LAST, True)])
def test_given_a_dead_letter_send_that_fails_then_it_counts_as_dead_lettered_only_on_the_last_receive(
    attempt: int, last: bool
) -> None:
    decision = outcome(PoisonMessageError("not JSON"), attempt)
    assert decision.last_receive is last
    assert decision.not_sent.metrics == ((Metric.JOBS_DEAD_LETTERED,) if last else ())
    assert decision.not_sent.level is Level.ERROR and decision.done.level is Level.ERROR
    assert decision.done.extra["reason"] == "not JSON" and decision.done.extra["queueUrl"] == URL


@pytest.mark.parametrize("started", [True, False])
def test_given_out_of_time_then_only_a_record_whose_work_started_says_so(started: bool) -> None:
    decision = outcome(OutOfTimeError("redis call stopped"), 1, record=facts(work_started=started))
    assert (decision.decided.message is not None) is started
    assert decision.decided.metrics == (Metric.RECORDS_HANDED_BACK,)


@pytest.mark.parametrize(
    ("error", "attempt", "undone_metric", "undone_level"),
    [
        (OutOfTimeError("t"), 1, Metric.JOBS_RETRIED, Level.WARNING),  # the handback failed: it comes back anyway
        (OutOfTimeError("t"), LAST, Metric.JOBS_DEAD_LETTERED, Level.ERROR),  # no fresh copy: the redrive moves it
        (BusyError("b"), 1, Metric.JOBS_RETRIED, Level.WARNING),
        (TransientError("x"), LAST, Metric.JOBS_RETRIED, Level.WARNING),
    ],
)
def test_given_an_outcome_that_cannot_be_carried_out_then_it_says_what_the_queue_does_instead(
    error: BaseException, attempt: int, undone_metric: Metric, undone_level: Level
) -> None:
    decision = outcome(error, attempt)
    assert decision.undone.metrics == (undone_metric,) and decision.undone.level is undone_level


@pytest.mark.parametrize(("kind", "least"), [(Kind.JOB, 2), (Kind.SWEEP, 1)])
def test_given_a_retry_then_its_delay_is_the_backoff_and_never_zero(kind: Kind, least: int) -> None:
    decision = outcome(TransientError("x"), 2, kind)
    assert least <= decision.delay_seconds <= 4  # equal jitter on the second attempt: 2 to 4 s
    assert decision.decided.extra["delaySeconds"] == decision.delay_seconds


def test_given_a_busy_job_then_its_copy_waits_one_to_two_busy_delays() -> None:
    decision = outcome(BusyError("locked"), 1)
    assert 1 <= decision.delay_seconds <= 2 and decision.done.extra == {"delaySeconds": decision.delay_seconds}


def test_given_the_same_inputs_then_the_same_outcome() -> None:
    assert outcome(TransientError("x"), 2) == outcome(TransientError("x"), 2)
