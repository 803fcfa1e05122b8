"""What the acceptance run reads back from CloudWatch: one series per metric over the run's window
(GetMetricData), and the stack's alarms with their states (DescribeAlarms)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.sqs import classify_aws_error
from shared.contracts.metrics import AwsMetric

PERIOD_S = 60  # the alarms' period (infra/monitoring.py)


@dataclass(frozen=True)
class Window:
    """The run's minutes: CloudWatch keeps one-minute points, so the window is whole minutes around the run."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, started: datetime, ended: datetime) -> Window:
        floor = started.replace(second=0, microsecond=0)
        ceiling = ended.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return cls(floor, ceiling)


@dataclass(frozen=True)
class Series:
    """A metric's one-minute values in the window (none: CloudWatch had no data point)."""

    label: str
    statistic: str
    values: list[float]

    @property
    def worst(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def total(self) -> float:
        return math.fsum(self.values)


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    metric: str


def cloudwatch(region: str | None) -> Any:
    # Few attempts: a statistic the server cannot serve fails at once, and the caller says so.
    return boto3.client("cloudwatch", region_name=region, config=Config(retries={"max_attempts": 2}))


def read_series(
    client: Any, window: Window, metric: AwsMetric, resources: list[str], statistic: str
) -> dict[str, Series]:
    """One series per resource (queue or function name) of an AWS metric."""
    return _metric_data(
        client,
        window,
        {name: (metric.namespace, metric.name, metric.dimension, name) for name in resources},
        statistic,
    )


def read_emf(client: Any, window: Window, namespace: str, name: str, dimension: str, value: str, stat: str) -> Series:
    return _metric_data(client, window, {value: (namespace, name, dimension, value)}, stat)[value]


def _metric_data(
    client: Any, window: Window, metrics: dict[str, tuple[str, str, str, str]], statistic: str
) -> dict[str, Series]:
    ids = {f"m{index}": label for index, label in enumerate(metrics)}
    queries = [
        {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": metrics[label][0],
                    "MetricName": metrics[label][1],
                    "Dimensions": [{"Name": metrics[label][2], "Value": metrics[label][3]}],
                },
                "Period": PERIOD_S,
                "Stat": statistic,
            },
        }
        for query_id, label in ids.items()
    ]
    values: dict[str, list[float]] = {label: [] for label in metrics}
    try:
        for start in range(0, len(queries), 500):  # GetMetricData takes at most 500 queries
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries[start : start + 500],
                "StartTime": window.start,
                "EndTime": window.end,
            }
            while True:
                page = client.get_metric_data(**kwargs)
                for result in page["MetricDataResults"]:
                    values[ids[result["Id"]]].extend(float(v) for v in result.get("Values", []))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as error:
        raise classify_aws_error(error, "cloudwatch get-metric-data") from error
    return {label: Series(label, statistic, found) for label, found in values.items()}


def stack_alarms(client: Any, stack: str) -> list[AlarmState]:
    """The alarms CloudFormation made for the stack: named <stack>-<logical id>-<suffix> (a longer stack name
    that starts with this one has a dash more, and is left out)."""
    own = re.compile(re.escape(stack) + r"-[A-Za-z0-9]+-[A-Za-z0-9]+")
    found: list[AlarmState] = []
    try:
        for page in client.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{stack}-"):
            found += [
                AlarmState(alarm["AlarmName"], alarm["StateValue"], alarm.get("MetricName", "a composite"))
                for alarm in page.get("MetricAlarms", [])
                if own.fullmatch(alarm["AlarmName"])
            ]
    except (ClientError, BotoCoreError) as error:
        raise classify_aws_error(error, "cloudwatch describe-alarms") from error
    return found
