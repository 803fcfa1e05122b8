"""What B2 meters of a job for B10: a client's requests by operation and their bytes, the bytes a handler writes
to its log, and its time in the calls B1's job makes, without leaving the process-wide logger, metrics or
`Recompute` changed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from recount.bench.job_meters import AwsRequests, emf_bytes, log_written, recompute_calls
from shared.contracts.events import EventName, InboxCountsDirty, new_event
from shared.contracts.metrics import Metric
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.status import JobContext
from shared.domain.jobs import run_inbox_counts
from shared.domain.recompute import Recompute
from shared.ports import Row
from shared.telemetry import count, logger, metrics, milliseconds
from tests.unit.fakes import FakeClients, FakeIdempotency


def test_given_requests_then_they_are_counted_by_operation_with_their_bodies_bytes() -> None:
    counter = AwsRequests("DynamoDB")

    counter(event_name="before-send.dynamodb.PutItem", request=SimpleNamespace(body=b'{"id": "a"}'))
    counter(event_name="before-send.dynamodb.UpdateItem", request=SimpleNamespace(body='{"id": "é"}'))
    counter(event_name="before-send.dynamodb.UpdateItem", request=SimpleNamespace(body=None))

    assert counter.operations == {"PutItem": 1, "UpdateItem": 2} and counter.total == 3
    assert counter.body_bytes == len(b'{"id": "a"}') + len('{"id": "é"}'.encode())


def test_given_a_job_that_logs_and_counts_then_its_lines_and_metrics_are_caught_and_the_logger_restored() -> None:
    level, stream = logger.log_level, getattr(logger.registered_handler, "stream", None)
    logger.setLevel("WARNING")  # as the bench runs
    try:
        with log_written() as (log, emitted):
            logger.info("recomputed", extra={"outcome": {"rowsWritten": 3}})
            count(Metric.JOBS_SUCCEEDED)
            milliseconds(Metric.RECOMPUTE_DURATION, 7)

        line = json.loads(log.getvalue())
        assert line["message"] == "recomputed" and line["outcome"] == {"rowsWritten": 3}
        assert emitted == [(Metric.JOBS_SUCCEEDED, 1), (Metric.RECOMPUTE_DURATION, 7)]
        assert logger.log_level == logging.WARNING
        assert getattr(logger.registered_handler, "stream", None) is stream
    finally:
        logger.setLevel(level)


def test_the_emf_blob_is_serialized_apart_from_powertools_shared_metrics() -> None:
    emitted = [(Metric.JOBS_SUCCEEDED, 1.0), (Metric.RECOMPUTE_DURATION, 7.0)]

    size = emf_bytes(emitted, "recount-dev-inbox-counts")

    assert size > len("recount-dev-inbox-counts") + len("JobsSucceeded") + len("RecomputeDuration")
    assert emf_bytes([], "recount-dev-inbox-counts") == 0
    assert not metrics.metric_set  # nothing left for a later flush


PATHS = {"probe_review": True, "probe_sent": True}
WRITTEN: Row = {
    "workspace_exists": True,
    "rows_written": 1,
    "rows_deleted": 0,
    "changed": True,
    "change_stamp": None,
    "generation": "g1",
    "dirty_at": None,
    "marker_cleared": True,
    "computed_at": datetime(2026, 12, 2, 9, 0),
}


class _SlowIdempotency(FakeIdempotency):
    """Its record's requests take 50 ms each, before and after the work they guard, as DynamoDB's would."""

    def run_once(self, key: str, work: Callable[[], OutcomeRecord]) -> tuple[OutcomeRecord, bool]:
        time.sleep(0.05)
        try:
            return super().run_once(key, work)
        finally:
            time.sleep(0.05)


def test_given_a_job_then_its_time_in_begin_and_finish_is_metered_and_not_the_idempotency_requests() -> None:
    def slow_lock(params: dict[str, Any]) -> list[Row]:
        time.sleep(0.01)
        return [{"locked": True, "generation": "g1", "dirty_at": None, "change_stamp": None, **PATHS}]

    clients = FakeClients(idempotency=_SlowIdempotency())
    clients.db.answers = {"inbox_counts:lock_and_read_marker": slow_lock, "inbox_counts:recompute": [WRITTEN]}
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id="ws-1", source="unit")
    assert isinstance(event, InboxCountsDirty)
    begin, finish = Recompute.begin, Recompute.finish

    with recompute_calls() as calls:
        result = run_inbox_counts(clients, event, JobContext("req-1", "unit", "m0", 1))

    assert result.outcome is not None and len(calls) == 2  # begin, then finish inside the idempotency record
    assert 10 <= sum(calls) < 100, calls  # the lock query's wait, none of the record's
    assert (Recompute.begin, Recompute.finish) == (begin, finish)
