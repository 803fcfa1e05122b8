"""Powertools Logger, Tracer and Metrics: one of each per execution environment, shared by all modules.

The service name comes from POWERTOOLS_SERVICE_NAME (set per function by the stack); the metrics
namespace is recount's.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from shared.contracts.metrics import METRICS_NAMESPACE, Metric

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=METRICS_NAMESPACE)


MetricListener = Callable[[Metric, float], None]
_listeners: list[MetricListener] = []
_emit_emf = True


def set_emf(enabled: bool) -> None:
    """Off only in the local runtime, which shows the metrics itself (Powertools prints EMF to stdout)."""
    global _emit_emf
    _emit_emf = enabled


def add_listener(listener: MetricListener) -> None:
    """Also hand every metric to `listener` (the local runtime's live view and summary use this)."""
    _listeners.append(listener)


def remove_listener(listener: MetricListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _record(metric: Metric, unit: MetricUnit, value: float) -> None:
    if _emit_emf:
        metrics.add_metric(name=metric.value, unit=unit, value=value)
    for listener in list(_listeners):
        listener(metric, value)


def count(metric: Metric, value: float = 1) -> None:
    _record(metric, MetricUnit.Count, value)


def milliseconds(metric: Metric, value: float) -> None:
    _record(metric, MetricUnit.Milliseconds, value)


def seconds(metric: Metric, value: float) -> None:
    _record(metric, MetricUnit.Seconds, value)
