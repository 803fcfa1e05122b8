"""What a job sends and writes, metered in process: a boto3 client's requests by operation and their bodies'
bytes, the bytes a handler writes to its log (Powertools' JSON lines, and the EMF blob of its metrics), and the
time it spends in the calls B1's job also times. B2 records them for each job; B10 prices them."""

from __future__ import annotations

import functools
import io
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from shared.contracts.metrics import METRICS_NAMESPACE, Metric
from shared.domain.recompute import Recompute
from shared.telemetry import add_listener, logger, remove_listener

# The units shared.telemetry gives the inbox job's timed metrics (a listener is handed values only).
_UNITS = {Metric.RECOMPUTE_DURATION: "Milliseconds", Metric.FRESHNESS_LAG: "Milliseconds"}


class AwsRequests:
    """A boto3 client's HTTP requests by operation, and their bodies' bytes (a `before-send` handler)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.operations: Counter[str] = Counter()
        self.body_bytes = 0

    def __call__(self, event_name: str = "", request: Any = None, **_: Any) -> None:
        self.operations[event_name.rsplit(".", 1)[-1]] += 1  # before-send.<service>.<Operation>
        body = getattr(request, "body", None) or b""
        self.body_bytes += len(body.encode() if isinstance(body, str) else body)

    @property
    def total(self) -> int:
        return sum(self.operations.values())


@contextmanager
def log_written() -> Iterator[tuple[io.StringIO, list[tuple[Metric, float]]]]:
    """The handler's log lines at INFO, into a buffer instead of stdout, and the metrics it reports (the bench
    runs with EMF off: their blob is serialized apart, as Powertools prints it)."""
    emitted: list[tuple[Metric, float]] = []

    def listener(metric: Metric, value: float) -> None:
        emitted.append((metric, value))

    buffer = io.StringIO()
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise RuntimeError(f"B2 counts the bytes of Powertools' stream handler, and the logger has {handler!r}")
    level, stream = logger.log_level, handler.setStream(buffer)
    logger.setLevel("INFO")
    add_listener(listener)
    try:
        yield buffer, emitted
    finally:
        remove_listener(listener)
        logger.setLevel(level)
        handler.setStream(stream)


def emf_bytes(emitted: list[tuple[Metric, float]], service: str) -> int:
    """The EMF blob Powertools prints at the end of an invocation with these metrics."""
    if not emitted:
        return 0
    provider = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE, service=service)
    for metric, value in emitted:
        provider.add_metric(name=metric.value, unit=_UNITS.get(metric, "Count"), value=value)
    return len(json.dumps(provider.serialize_metric_set(), separators=(",", ":")).encode()) + 1  # and its newline


@contextmanager
def recompute_calls() -> Iterator[list[float]]:
    """The milliseconds of each call of `Recompute.begin` and `Recompute.finish` (BEGIN to the Redis publish: the
    job's PostgreSQL statements and Redis commands), wall time: the calls B1's job makes, so B10 can take them out
    of a handler's time and count B1's instead. The idempotency requests run between the two, outside them."""
    spans: list[float] = []
    originals = {name: getattr(Recompute, name) for name in ("begin", "finish")}

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spans.append((time.perf_counter() - started) * 1000)

        return call

    for name, method in originals.items():
        setattr(Recompute, name, timed(method))
    try:
        yield spans
    finally:
        for name, method in originals.items():
            setattr(Recompute, name, method)
