"""The consumer's decisions, one per row of docs/operating.md's "What happens to a message", on in-memory ports.

The job each record runs is a stand-in that returns or raises what the row needs: these tests prove what the
consumer does with it (the queue calls, the status, the metrics, the batch item failures). What the real
jobs return on real servers is proven in tests/integration/functions.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE
from shared.contracts.errors import BusyError, PermanentError, TransientError
from shared.contracts.events import (
    AnalyticsAggregatesRecompute,
    EventName,
    InboxCountsDirty,
    InboxCountsRecompute,
    new_event,
    to_body,
)
from shared.contracts.keys import JobName
from shared.contracts.metrics import Metric
from shared.contracts.status import JobContext, JobStatus
from shared.domain.jobs import JobResult, Skip
from shared.ports import SloMiss
from shared.telemetry import add_listener, logger, remove_listener
from shared.wiring.consumer import Consumer, RunJob
from shared.wiring.sweep_consumer import SweepConsumer
from tests.unit.fakes import FakeClients, lambda_context, outcome_record, queue_url, sqs_event

Job = Callable[[Any, Any, JobContext], JobResult]


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))

    def errors(self) -> list[str]:
        return [message for level, message in self.lines if level == "ERROR"]


@pytest.fixture
def metrics() -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def listen(metric: Metric, value: float) -> None:
        seen[metric.value] += 1

    add_listener(listen)  # EMF is off in every unit test (tests/unit/conftest.py)
    yield seen
    remove_listener(listen)


@pytest.fixture
def logs() -> Iterator[Recorder]:
    recorder = Recorder()
    underlying = logging.getLogger(logger.name)  # Powertools' Logger wraps this one
    underlying.addHandler(recorder)
    yield recorder
    underlying.removeHandler(recorder)


def dirty(client_id: str = "ws-1") -> str:
    return to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="unit"))


def recompute(client_id: str = "ws-1") -> str:
    return to_body(new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=client_id, source="unit"))


class Jobs:
    """A stand-in job: counts its runs per workspace and answers with `answer(client_id)`."""

    def __init__(self, answer: Callable[[str], JobResult]) -> None:
        self.answer = answer
        self.runs: list[str] = []

    def __call__(self, clients: Any, event: Any, context: JobContext) -> JobResult:
        self.runs.append(event.data.clientId)
        return self.answer(event.data.clientId)


def recomputed(client_id: str) -> JobResult:
    dirty_at = (datetime.now(UTC) - timedelta(seconds=2)).replace(tzinfo=None)
    outcome = outcome_record(client_id, duration_ms=12, marker_cleared=True, dirty_at=dirty_at, version=3)
    return JobResult(client_id, outcome=outcome)


def raising(error: Exception) -> Callable[[str], JobResult]:
    def answer(client_id: str) -> JobResult:
        raise error

    return answer


def consumer(job: Job, clients: FakeClients | None = None) -> Consumer:
    route: RunJob = job
    return Consumer(
        JobName.INBOX_COUNTS,
        {InboxCountsDirty: route, InboxCountsRecompute: route},
        clients or FakeClients(),
        rng=random.Random(7),
    )


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_recomputed_record_succeeds_with_duration_and_freshness(metrics: Counter[str]) -> None:
    # Given a job that recomputes; When its record is handled
    clients = FakeClients()
    response = consumer(Jobs(recomputed), clients).handle_batch(sqs_event(dirty()), lambda_context())
    # Then the record succeeds (SQS deletes it), nothing is sent or hidden, and the three metrics are out
    assert failures(response) == []
    assert clients.sqs.sent == [] and clients.sqs.visibility == []
    assert metrics[Metric.JOBS_SUCCEEDED] == 1
    assert metrics[Metric.RECOMPUTE_DURATION] == 1 and metrics[Metric.FRESHNESS_LAG] == 1
    assert clients.idempotency.context is not None  # the Lambda context reached the idempotency guard


@pytest.mark.parametrize(
    ("skip", "metric"),
    [
        (Skip.DUPLICATE, Metric.JOBS_SKIPPED_DUPLICATE),
        (Skip.CLEAN, Metric.JOBS_SKIPPED_CLEAN),
        (Skip.DISABLED, Metric.JOBS_SKIPPED_DISABLED),
    ],
)
def test_skipped_record_succeeds_without_recompute_metrics(skip: Skip, metric: Metric, metrics: Counter[str]) -> None:
    clients = FakeClients()
    jobs = Jobs(lambda client_id: JobResult(client_id, skipped=skip, reason="unit"))
    response = consumer(jobs, clients).handle_batch(sqs_event(dirty()), lambda_context())
    assert failures(response) == []
    assert metrics[metric] == 1 and metrics[Metric.JOBS_SUCCEEDED] == 0
    assert clients.sqs.sent == []


def test_records_of_one_workspace_in_one_batch_recompute_once(metrics: Counter[str]) -> None:
    # Given three records of ws-1 (a dirty event and two recompute events) and one of ws-2
    clients = FakeClients()
    jobs = Jobs(recomputed)
    bodies = (dirty("ws-1"), recompute("ws-1"), recompute("ws-1"), dirty("ws-2"))
    # When the batch is handled
    response = consumer(jobs, clients).handle_batch(sqs_event(*bodies), lambda_context())
    # Then each workspace ran once; the later records of ws-1 were coalesced, and the recompute events' ids are
    # remembered as done (so a redelivery of them is a duplicate), under the run that covered them
    assert failures(response) == []
    assert jobs.runs == ["ws-1", "ws-2"]
    assert metrics[Metric.JOBS_SKIPPED_COALESCED] == 2
    remembered = [key for key in clients.idempotency.results if ":event:" in key]
    assert len(remembered) == 2 and all(key.startswith("inbox_counts:ws-1:event:") for key in remembered)


def test_a_skip_does_not_coalesce_the_records_behind_it() -> None:
    # Given a first record whose run skipped (its snapshot proves nothing about later marks)
    answers = iter([JobResult("ws-1", skipped=Skip.CLEAN, reason="clean"), recomputed("ws-1")])
    jobs = Jobs(lambda client_id: next(answers))
    # When a second record of the workspace follows in the batch, Then it runs its own job
    consumer(jobs).handle_batch(sqs_event(dirty(), dirty()), lambda_context())
    assert jobs.runs == ["ws-1", "ws-1"]


def test_busy_workspace_resends_a_delayed_copy_and_deletes_the_original(metrics: Counter[str]) -> None:
    clients = FakeClients()
    body = dirty()
    response = consumer(Jobs(raising(BusyError("locked"))), clients).handle_batch(
        sqs_event(body, receive_count=2), lambda_context()
    )
    # Then: not a failure (no receive count burnt); a copy of the body waits 1 to 2 x BUSY_DELAY_SECONDS
    assert failures(response) == []
    [copy] = clients.sqs.to(queue_url("counts"))
    assert copy.body == body and 1 <= copy.delay_seconds <= 2
    assert metrics[Metric.JOBS_BUSY] == 1 and clients.versions.statuses == []


def test_transient_failure_retries_with_backoff_and_records_the_attempt(metrics: Counter[str]) -> None:
    clients = FakeClients()
    response = consumer(Jobs(raising(TransientError("postgres: connection refused"))), clients).handle_batch(
        sqs_event(dirty(), receive_count=2), lambda_context()
    )
    # Then the record fails the batch, comes back after a jittered backoff of the 2nd attempt (2 x 2^1 s, equal
    # jitter: 2 to 4 s), and the status says failed, with the attempt and the error
    assert failures(response) == ["m0"]
    [(url, receipt, seconds)] = clients.sqs.visibility
    assert (url, receipt) == (queue_url("counts"), "rh0") and 2 <= seconds <= 4
    [status] = clients.versions.statuses
    assert status.status is JobStatus.FAILED and status.attempt == 2
    assert status.lastError == "postgres: connection refused"
    assert metrics[Metric.JOBS_RETRIED] == 1 and metrics[Metric.JOBS_DEAD_LETTERED] == 0


def test_last_attempt_failing_is_logged_once_and_redriven_at_once(metrics: Counter[str], logs: Recorder) -> None:
    clients = FakeClients()  # MAX_RECEIVE_COUNT 3
    response = consumer(Jobs(raising(TransientError("redis: timeout"))), clients).handle_batch(
        sqs_event(dirty(), receive_count=3), lambda_context()
    )
    assert failures(response) == ["m0"]
    assert clients.sqs.visibility == [(queue_url("counts"), "rh0", 0)]  # the redrive moves it now
    assert [s.status for s in clients.versions.statuses] == [JobStatus.FAILED]
    assert metrics[Metric.JOBS_DEAD_LETTERED] == 1 and metrics[Metric.JOBS_RETRIED] == 0
    assert len(logs.errors()) == 1 and "final attempt failed" in logs.errors()[0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        (json.dumps({"name": "inbox.counts.unknown", "version": 1}), "unknown"),
        (to_body(new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id="ws-1")), "not handled by"),
        (
            json.dumps(
                {
                    "name": "inbox.counts.dirty",
                    "version": 1,
                    "id": "e",
                    "occurredAt": "2026-11-29T10:15:00Z",
                    "data": {"clientId": "x'; --"},
                }
            ),
            "clientId",
        ),
    ],
)
def test_message_that_can_never_succeed_goes_to_the_dead_letter_queue_with_its_reason(
    body: str, reason: str, metrics: Counter[str], logs: Recorder
) -> None:
    clients = FakeClients()
    jobs = Jobs(recomputed)
    # Given a poison record ahead of a valid one
    response = consumer(jobs, clients).handle_batch(sqs_event(body, dirty("ws-2")), lambda_context())
    # Then it is in the function's DLQ with its reason and source queue, it is not retried, and the rest ran
    assert failures(response) == []
    [dead] = clients.sqs.to(queue_url("counts-dlq"))
    assert dead.body == body and dead.attributes is not None
    assert reason.lower() in dead.attributes[REASON_ATTRIBUTE].lower()
    assert dead.attributes[SOURCE_QUEUE_ATTRIBUTE] == queue_url("counts")
    assert jobs.runs == ["ws-2"]
    assert metrics[Metric.JOBS_DEAD_LETTERED] == 1 and len(logs.errors()) == 1


def test_permanent_job_error_dead_letters_at_once_and_marks_the_status_failed(metrics: Counter[str]) -> None:
    clients = FakeClients()
    consumer(Jobs(raising(PermanentError("postgres: column does not exist"))), clients).handle_batch(
        sqs_event(dirty()), lambda_context()
    )
    [dead] = clients.sqs.to(queue_url("counts-dlq"))
    assert dead.attributes is not None and "column does not exist" in dead.attributes[REASON_ATTRIBUTE]
    assert [s.status for s in clients.versions.statuses] == [JobStatus.FAILED]
    assert clients.sqs.visibility == []


def test_poison_without_a_dead_letter_queue_fails_the_record_rather_than_dropping_it() -> None:
    clients = FakeClients()
    clients.queues = clients.queues.model_copy(update={"counts_dead_letter_queue_url": None})
    response = consumer(Jobs(recomputed), clients).handle_batch(sqs_event("not json"), lambda_context())
    assert failures(response) == ["m0"] and clients.sqs.sent == []


def test_poison_goes_to_the_dead_letter_queue_of_the_queue_it_came_from() -> None:
    clients = FakeClients()
    consumer(Jobs(recomputed), clients).handle_batch(sqs_event("not json", queue="counts-high"), lambda_context())
    [dead] = clients.sqs.to(queue_url("counts-high-dlq"))
    assert dead.body == "not json" and clients.sqs.to(queue_url("counts-dlq")) == []


def test_a_failure_decides_the_later_records_of_its_workspace_without_running_them() -> None:
    clients = FakeClients()
    jobs = Jobs(raising(TransientError("postgres down")))
    response = consumer(jobs, clients).handle_batch(sqs_event(dirty(), dirty()), lambda_context())
    assert jobs.runs == ["ws-1"]
    assert failures(response) == ["m0", "m1"]


def test_out_of_time_hands_records_back_untouched(metrics: Counter[str]) -> None:
    clients = FakeClients()
    jobs = Jobs(recomputed)
    # Given less time left than TIME_BUDGET_MARGIN_MS (5 s)
    response = consumer(jobs, clients).handle_batch(sqs_event(dirty(), dirty("ws-2")), lambda_context(4_000))
    # Then nothing runs; both come back at once (visibility 0), no backoff, no status
    assert jobs.runs == [] and failures(response) == ["m0", "m1"]
    assert clients.sqs.visibility == [(queue_url("counts"), "rh0", 0), (queue_url("counts"), "rh1", 0)]
    assert metrics[Metric.RECORDS_HANDED_BACK] == 2 and clients.versions.statuses == []


def test_out_of_time_on_the_last_receive_resends_a_fresh_copy() -> None:
    # A hand-back on the last receive would let the redrive dead-letter a valid message
    clients = FakeClients()
    body = dirty()
    response = consumer(Jobs(recomputed), clients).handle_batch(sqs_event(body, receive_count=3), lambda_context(1_000))
    assert failures(response) == []
    assert [m.body for m in clients.sqs.to(queue_url("counts"))] == [body]


def test_records_from_counts_high_go_back_to_counts_high() -> None:
    clients = FakeClients()
    body = dirty()
    consumer(Jobs(raising(BusyError("locked"))), clients).handle_batch(
        sqs_event(body, queue="counts-high"), lambda_context()
    )
    assert [m.body for m in clients.sqs.to(queue_url("counts-high"))] == [body]


def test_failed_status_that_cannot_be_written_does_not_hide_the_decision(metrics: Counter[str]) -> None:
    clients = FakeClients()
    clients.versions.fail_with = TransientError("redis: down")
    response = consumer(Jobs(raising(TransientError("redis: down"))), clients).handle_batch(
        sqs_event(dirty()), lambda_context()
    )
    assert failures(response) == ["m0"] and metrics[Metric.JOBS_RETRIED] == 1


def test_analytics_consumer_dead_letters_inbox_events() -> None:
    clients = FakeClients()
    jobs = Jobs(recomputed)
    analytics = Consumer(JobName.ANALYTICS_AGGREGATES, {AnalyticsAggregatesRecompute: jobs}, clients)
    analytics.handle_batch(sqs_event(dirty(), queue="analytics"), lambda_context())
    assert jobs.runs == [] and len(clients.sqs.to(queue_url("analytics-dlq"))) == 1  # its own queue's


def sweep(name: EventName = EventName.INBOX_COUNTS_SWEEP) -> str:
    return to_body(new_event(name, source="schedule"))


def test_sweep_failure_retries_with_backoff_then_gives_up_at_the_last_receive(
    metrics: Counter[str], logs: Recorder
) -> None:
    clients = FakeClients()
    clients.db.answers["sweep:dirty_backlog"] = TransientError("postgres: connection refused")
    sweeper = SweepConsumer(clients, rng=random.Random(7))
    retried = sweeper.handle_batch(sqs_event(sweep(), queue="sweep", receive_count=1), lambda_context())
    final = sweeper.handle_batch(sqs_event(sweep(), queue="sweep", receive_count=3), lambda_context())
    assert failures(retried) == ["m0"] and failures(final) == ["m0"]
    [(_, _, backoff), (_, _, redrive)] = clients.sqs.visibility
    assert 1 <= backoff <= 2 and redrive == 0
    assert metrics[Metric.JOBS_RETRIED] == 1 and metrics[Metric.JOBS_DEAD_LETTERED] == 1
    assert len(logs.errors()) == 1


def test_sweeper_dead_letters_what_is_not_a_sweep() -> None:
    clients = FakeClients()
    SweepConsumer(clients).handle_batch(sqs_event(dirty(), queue="sweep"), lambda_context())
    [dead] = clients.sqs.to(queue_url("sweep-dlq"))
    assert dead.attributes is not None and "not handled by the sweeper" in dead.attributes[REASON_ATTRIBUTE]
    assert clients.db.ran == []


def test_analytics_sweep_enqueues_each_valid_miss_and_removes_exactly_those() -> None:
    clients = FakeClients()
    clients.versions.misses = [SloMiss(member, "1") for member in ("ws-1", "not a valid id ;", "ws-2")]
    SweepConsumer(clients).handle_batch(
        sqs_event(sweep(EventName.ANALYTICS_AGGREGATES_SWEEP), queue="sweep"), lambda_context()
    )
    sent = [json.loads(m.body)["data"]["clientId"] for m in clients.sqs.to(queue_url("analytics"))]
    assert sent == ["ws-1", "ws-2"]
    assert clients.versions.misses == []


def test_a_failure_on_the_coalesced_path_keeps_the_true_status_and_says_so(
    metrics: Counter[str], logs: Recorder
) -> None:
    # Given a batch whose second record is coalesced, and the idempotency table failing when it is remembered
    clients = FakeClients()
    jobs_consumer = consumer(Jobs(recomputed), clients)
    clients.idempotency.fail_with = TransientError("dynamodb: throttled")
    response = jobs_consumer.handle_batch(sqs_event(dirty(), recompute()), lambda_context())
    # Then the work is done and its status stands: the record is coalesced, with a WARNING, not retried
    assert failures(response) == [] and clients.sqs.visibility == []
    assert clients.versions.statuses == [] and metrics[Metric.JOBS_SKIPPED_COALESCED] == 1
    assert any(level == "WARNING" and "could not be remembered" in message for level, message in logs.lines)


def test_a_poison_message_whose_dead_letter_send_fails_is_logged_with_its_reason(
    metrics: Counter[str], logs: Recorder
) -> None:
    clients = FakeClients()
    clients.sqs.fail_with = TransientError("sqs: AccessDenied")
    response = consumer(Jobs(recomputed), clients).handle_batch(sqs_event("not json"), lambda_context())
    assert failures(response) == ["m0"]  # comes back to be sent again; the redrive takes it on the last receive
    [error] = logs.errors()
    assert "could not be sent to the dead-letter queue" in error
    assert metrics[Metric.JOBS_DEAD_LETTERED] == 0 and metrics[Metric.JOBS_RETRIED] == 0


def test_a_busy_resend_that_sqs_refuses_fails_the_record_with_a_warning(metrics: Counter[str], logs: Recorder) -> None:
    clients = FakeClients()
    clients.sqs.fail_with = TransientError("sqs: throttled")
    response = consumer(Jobs(raising(BusyError("locked"))), clients).handle_batch(sqs_event(dirty()), lambda_context())
    assert failures(response) == ["m0"]  # back after its visibility timeout: nothing lost
    assert metrics[Metric.JOBS_RETRIED] == 1
    assert any(level == "WARNING" and "could not carry out" in message for level, message in logs.lines)


def test_busy_on_the_last_receive_is_a_final_failure(metrics: Counter[str], logs: Recorder) -> None:
    clients = FakeClients()
    response = consumer(Jobs(raising(BusyError("locked"))), clients).handle_batch(
        sqs_event(dirty(), receive_count=3), lambda_context()
    )
    assert failures(response) == ["m0"] and clients.sqs.visibility == [(queue_url("counts"), "rh0", 0)]
    assert [s.status for s in clients.versions.statuses] == [JobStatus.FAILED]
    assert metrics[Metric.JOBS_DEAD_LETTERED] == 1 and len(logs.errors()) == 1


def test_a_sweep_busy_on_every_receive_ends_with_an_error_line_not_silently(
    metrics: Counter[str], logs: Recorder
) -> None:
    clients = FakeClients()
    clients.db.answers["sweep:dirty_backlog"] = BusyError("the inbox sweep is already running")
    sweeper = SweepConsumer(clients, rng=random.Random(7))
    for receive in (1, 2, 3):
        response = sweeper.handle_batch(sqs_event(sweep(), queue="sweep", receive_count=receive), lambda_context())
        assert failures(response) == ["m0"]
    assert [seconds for *_, seconds in clients.sqs.visibility][-1] == 0  # redriven at once, on the last
    assert metrics[Metric.JOBS_DEAD_LETTERED] == 1 and len(logs.errors()) == 1


def test_a_record_s_log_lines_never_carry_the_previous_record_s_keys() -> None:
    # Given a valid record of ws-1 followed by a poison one
    lines: list[dict[str, Any]] = []

    class Keys(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(logger.registered_formatter.format(record)))

    handler = Keys()
    underlying = logging.getLogger(logger.name)
    underlying.addHandler(handler)
    try:
        consumer(Jobs(recomputed)).handle_batch(sqs_event(dirty("ws-1"), "not json"), lambda_context())
    finally:
        underlying.removeHandler(handler)
    # Then the poison record's line names neither ws-1 nor its correlation id
    [first] = [line for line in lines if line["message"] == "recomputed"]
    [poison] = [line for line in lines if line["level"] == "ERROR"]
    assert first["clientId"] == "ws-1" and "clientId" not in poison
    assert poison.get("correlation_id") != first["correlation_id"]


def test_a_permanent_failure_whose_dead_letter_send_fails_still_leaves_a_failed_status() -> None:
    clients = FakeClients()
    clients.sqs.fail_with = TransientError("sqs: AccessDenied")
    consumer(Jobs(raising(PermanentError("postgres 42P01: no such table"))), clients).handle_batch(
        sqs_event(dirty()), lambda_context()
    )
    assert [s.status for s in clients.versions.statuses] == [JobStatus.FAILED]
