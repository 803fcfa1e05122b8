"""The acceptance run reads back the metrics the alarms watch by the names in shared/contracts/metrics.py: the
synthesized alarms must watch exactly those, or the run would prove something about metrics nobody alarms on."""

from __future__ import annotations

from typing import Any

from shared.contracts.metrics import (
    EMF_SERVICE_DIMENSION,
    FUNCTION_ERRORS,
    METRICS_NAMESPACE,
    QUEUE_OLDEST_AGE,
    QUEUE_VISIBLE,
    Metric,
)


def test_every_alarm_watches_a_metric_named_in_the_contract(resources: dict[str, dict[str, Any]]) -> None:
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    known = {
        (QUEUE_OLDEST_AGE.namespace, QUEUE_OLDEST_AGE.name, QUEUE_OLDEST_AGE.dimension),
        (QUEUE_VISIBLE.namespace, QUEUE_VISIBLE.name, QUEUE_VISIBLE.dimension),
        (FUNCTION_ERRORS.namespace, FUNCTION_ERRORS.name, FUNCTION_ERRORS.dimension),
        (METRICS_NAMESPACE, Metric.FRESHNESS_LAG.value, EMF_SERVICE_DIMENSION),
    }
    watched = {(a["Namespace"], a["MetricName"], a["Dimensions"][0]["Name"]) for a in alarms}
    assert watched == known
