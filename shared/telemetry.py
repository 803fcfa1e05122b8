"""Powertools Logger, Tracer and Metrics: one of each per execution environment, shared by all modules.

The service name comes from POWERTOOLS_SERVICE_NAME (set per function by the stack); the metrics
namespace is recount's. The Tracer is made only when tracing is on: Powertools' Tracer imports the X-Ray
SDK even when disabled, a third of a handler's import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool

from shared.contracts.metrics import METRICS_NAMESPACE, Metric

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Powertools' own rule: off when POWERTOOLS_TRACE_DISABLED is true (a stage's `tracing: false` sets it),
    and off outside Lambda or under SAM's or Chalice's local emulation."""
    if strtobool(os.environ.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = os.environ.get(constants.LAMBDA_TASK_ROOT_ENV)
    emulated = os.environ.get(constants.SAM_LOCAL_ENV) or os.environ.get(constants.CHALICE_LOCAL_ENV)
    return bool(in_lambda) and not emulated


def capture_lambda_handler(handler: Handler) -> Handler:
    """Powertools' `tracer.capture_lambda_handler` when tracing is on; the handler itself when it is off, where
    Powertools' disabled Tracer would only wrap it in a no-op segment."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(Handler, Tracer().capture_lambda_handler(handler))


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
