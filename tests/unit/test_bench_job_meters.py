"""What B2 meters of a job for B10: a client's requests by operation and their bytes, and the bytes a handler
writes to its log, without leaving the process-wide logger or metrics changed."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from recount.bench.job_meters import AwsRequests, emf_bytes, log_written
from shared.contracts.metrics import Metric
from shared.telemetry import count, logger, metrics, milliseconds


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
