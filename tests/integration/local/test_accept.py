"""recount accept, end to end on moto's server: the local runtime consumes the queues a stack's outputs name, the
stack's alarms are there, and a metrics feed stands in for what AWS publishes (moto publishes no SQS or Lambda
metrics, and the local runtime's EMF stays local). It passes on the healthy pipeline, and fails naming the miss
when a dead letter, a breached threshold or an alarm in ALARM is planted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
from moto import mock_aws

from infra.config import load_stage
from recount.commands.accept import retry_claim
from recount.commands.accept_cloudwatch import Window
from recount.commands.accept_retry import RetryProbe, served_by
from recount.local.pipeline import LocalPipeline
from shared.contracts.keys import JobName
from shared.contracts.metrics import (
    EMF_SERVICE_DIMENSION,
    FUNCTION_ERRORS,
    FUNCTION_INVOCATIONS,
    FUNCTION_THROTTLES,
    METRICS_NAMESPACE,
    QUEUE_OLDEST_AGE,
    QUEUE_VISIBLE,
    AwsMetric,
    Metric,
)
from shared.contracts.status import JobContext, StatusBlob
from shared.topology import FUNCTIONS, QUEUES, FunctionKey
from tests.builders import Workspace

ROOT = Path(__file__).resolve().parents[3]
STACK = "recount-dev"  # the dev stage: its prefix names the functions, cdk.json gives the thresholds
FUNCTION_NAMES = [FUNCTIONS[key].physical_name(STACK) for key in FunctionKey]
INBOX = FUNCTIONS[FunctionKey.INBOX].physical_name(STACK)
# A short run, CloudWatch read at once (moto has every point as it is put), one workspace held busy 3 s.
# The hold outlasts the local pipeline's pickup of the held event even on a loaded machine (at 3 s, a CI run beside
# other suites once saw the event first delivered after the release: the retry claim then, rightly, unproven).
FAST = ("--rate", "2", "--duration", "2", "--settle-s", "0", "--hold-s", "10", "--json")


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _deploy(pipeline: LocalPipeline, cloudwatch: Any, cloudformation: Any) -> list[str]:
    """A stack whose outputs are the local runtime's queues, and alarms named as CloudFormation names them."""
    target = pipeline.target
    outputs = {
        output: {"Value": urls[key]}
        for key, queue in QUEUES.items()
        for output, urls in ((queue.url_output, target.queue_urls), (queue.dead_letter_output, target.dead_letter_urls))
    }
    template = {"Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    alarms = [
        (f"{_name(u).title().replace('-', '')}Age", QUEUE_OLDEST_AGE, _name(u), 120.0, "Maximum")
        for u in target.queue_urls.values()
    ]
    alarms += [
        (f"{_name(u).title().replace('-', '')}Dead", QUEUE_VISIBLE, _name(u), 0.0, "Maximum")
        for u in target.dead_letter_urls.values()
    ]
    alarms += [(f"{n.title().replace('-', '')}Errors", FUNCTION_ERRORS, n, 1.0, "Sum") for n in FUNCTION_NAMES]
    names = []
    for logical, metric, resource, threshold, statistic in alarms:
        names.append(f"{STACK}-Monitoring{logical}ABC123-XYZ789")
        cloudwatch.put_metric_alarm(
            AlarmName=names[-1],
            Namespace=metric.namespace,
            MetricName=metric.name,
            Dimensions=[{"Name": metric.dimension, "Value": resource}],
            Statistic=statistic,
            Period=60,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
        )
    names.append(f"{STACK}-MonitoringFreshnessP95ABC123-XYZ789")
    cloudwatch.put_metric_alarm(
        AlarmName=names[-1],
        Namespace=METRICS_NAMESPACE,
        MetricName=Metric.FRESHNESS_LAG.value,
        Dimensions=[{"Name": EMF_SERVICE_DIMENSION, "Value": INBOX}],
        ExtendedStatistic="p95",
        Period=60,
        EvaluationPeriods=3,
        Threshold=15000,
        ComparisonOperator="GreaterThanThreshold",
    )
    for name in names:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="deployed")
    # Another stack's alarm whose name starts with this stack's, firing: not this stack's
    neighbour = f"{STACK}-eu-MonitoringCountsAgeABC123-XYZ789"
    cloudwatch.put_metric_alarm(
        AlarmName=neighbour,
        Namespace=QUEUE_OLDEST_AGE.namespace,
        MetricName=QUEUE_OLDEST_AGE.name,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=neighbour, StateValue="ALARM", StateReason="another stack's")
    return names


@contextmanager
def metrics_feed(
    pipeline: LocalPipeline, cloudwatch: Any, values: dict[str, float], *, lambda_points: bool = True
) -> Iterator[None]:
    """Every half second, the points AWS would publish for a pipeline in the state `values` describes (without
    `lambda_points`: none of AWS/Lambda's, as when they have not arrived or name other functions)."""
    target = pipeline.target
    stop = threading.Event()

    def datum(metric: AwsMetric | str, resource: str, value: float) -> dict[str, Any]:
        name, dimension = (metric.name, metric.dimension) if isinstance(metric, AwsMetric) else (metric, "service")
        return {
            "MetricName": name,
            "Dimensions": [{"Name": dimension, "Value": resource}],
            "Value": value,
            "Timestamp": datetime.now(UTC),
        }

    def feed() -> None:
        while not stop.wait(0.5):
            aws = [datum(QUEUE_OLDEST_AGE, _name(u), values["age"]) for u in target.queue_urls.values()]
            aws += [datum(QUEUE_VISIBLE, _name(u), 0) for u in target.dead_letter_urls.values()]
            lam = [datum(m, n, 0) for n in FUNCTION_NAMES for m in (FUNCTION_ERRORS, FUNCTION_THROTTLES)]
            lam += [datum(FUNCTION_INVOCATIONS, n, 1) for n in FUNCTION_NAMES]
            cloudwatch.put_metric_data(Namespace=QUEUE_OLDEST_AGE.namespace, MetricData=aws)
            if lambda_points:
                cloudwatch.put_metric_data(Namespace=FUNCTION_ERRORS.namespace, MetricData=lam)
            emf = [datum(Metric.FRESHNESS_LAG.value, INBOX, values["freshness"])]
            cloudwatch.put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=emf)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


RETRIED = "a transient failure is retried"


def others(report: dict[str, Any]) -> list[str]:
    """The misses besides the retry claim: the planted-miss runs assert what they plant. Whether the held event met
    the lock depends on the local pipeline's pickup within the hold, so the healthy run alone asserts it (it
    missed there, beside the planted miss, in 2 of 3 CI runs)."""
    return [miss for miss in report["misses"] if miss != RETRIED]


def accept(env: dict[str, str], client_id: str, *names: str) -> tuple[int, dict[str, Any], str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "-m", "recount", "accept", *(names or ("--stack", STACK)), "--client-id", client_id, *FAST],
        cwd=ROOT,
        env=environment | {"POWERTOOLS_TRACE_DISABLED": "true"} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


def test_accept_passes_on_a_healthy_pipeline_and_names_each_planted_miss(
    local: tuple[LocalPipeline, Path], database_url: str, redis_url: str, workspace: Workspace
) -> None:
    pipeline, _ = local
    endpoint, region = str(pipeline.target.endpoint_url), pipeline.target.region or "us-east-1"
    credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": region}
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, **credentials)
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, **credentials)
    alarms = _deploy(pipeline, cloudwatch, cloudformation)
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": region,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    healthy = {"age": 1.0, "freshness": 300.0}

    # Given no AWS/Lambda points at all (not arrived, or another stack's names): errors and throttles unproven
    # (first: points put later stay in the window's minutes)
    with metrics_feed(pipeline, cloudwatch, healthy, lambda_points=False):
        code, report, stderr = accept(env, Workspace.create(workspace.db).id)
    errors, throttles = "CloudWatch: function errors (per minute, per function)", "CloudWatch: function throttles"
    assert code == 1 and others(report) == [errors, throttles], report
    silent = f"no data points for {INBOX}, {FUNCTIONS[FunctionKey.SWEEPER].physical_name(STACK)}"
    assert f"not proven: {errors}: {silent}" in " ".join(stderr.split())

    # Given a healthy pipeline: every claim is proven, the forced busy workspace among them
    with metrics_feed(pipeline, cloudwatch, healthy):
        code, report, stderr = accept(env, Workspace.create(workspace.db).id)
        if code == 1 and report.get("misses") == [RETRIED]:  # the held event was picked up after the hold: again
            code, report, stderr = accept(env, Workspace.create(workspace.db).id)
    assert code == 0, stderr + json.dumps(report, indent=1)
    claims = {claim["claim"]: claim for claim in report["claims"]}
    assert all(claim["proven"] for claim in claims.values()) and len(claims) == 10
    assert claims["every alarm of the stack is out of ALARM"]["figure"] == f"{len(alarms)} alarms, 0 in ALARM"
    assert claims["CloudWatch: freshness p95"]["threshold"] == "<= 15000 ms"  # dev's freshnessP95Ms
    assert claims["CloudWatch: backlog age (oldest message)"]["threshold"] == "<= 120 s"  # dev's age
    retried = claims["a transient failure is retried"]
    assert "still pending at release yes, served yes" in retried["figure"]
    assert "by a re-sent copy (message " in retried["figure"]  # the held workspace's own blob says so
    assert "a delayed resend on the counts queue yes, JobsBusy 0" in retried["note"]
    assert claims["CloudWatch: function throttles"]["figure"].startswith("0 in ")

    # Given a stage that is not the stack's: its function names would be another stack's, so it is refused
    code, _, stderr = accept(env, workspace.id, "--stack", "recount-prod", "--stage", "dev")
    assert code == 2 and "--stack recount-prod is not stage dev's stack (recount-dev)" in " ".join(stderr.split())

    # Given an alarm in ALARM
    cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="planted")
    with metrics_feed(pipeline, cloudwatch, healthy):
        code, report, stderr = accept(env, Workspace.create(workspace.db).id)
    assert code == 1 and others(report) == ["every alarm of the stack is out of ALARM"], report
    assert f"1 in ALARM: {alarms[0]}" in stderr
    cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="OK", StateReason="cleared")

    # Given a dead letter
    sqs = boto3.client("sqs", endpoint_url=endpoint, **credentials)
    dead_letter_url = pipeline.target.dead_letter_urls["analytics"]
    sqs.send_message(QueueUrl=dead_letter_url, MessageBody="{}")
    with metrics_feed(pipeline, cloudwatch, healthy):
        code, report, stderr = accept(env, Workspace.create(workspace.db).id)
    assert code == 1 and others(report) == ["dead letters"], report
    assert "not proven: dead letters: 1 now" in stderr
    sqs.purge_queue(QueueUrl=dead_letter_url)

    # Given a freshness p95 over the stage's threshold (last: its points stay in the window's minutes)
    with metrics_feed(pipeline, cloudwatch, healthy | {"freshness": 20_000.0}):
        code, report, stderr = accept(env, Workspace.create(workspace.db).id)
    assert code == 1 and others(report) == ["CloudWatch: freshness p95"], report
    assert "at most 20000 ms" in stderr and "threshold <= 15000 ms" in stderr


def test_the_retry_claim_is_not_proven_by_stack_wide_signals_when_the_first_delivery_served() -> None:
    """JobsBusy from another workspace and a delayed message on the queue are no evidence that the held workspace
    met the lock: only its own status blob, naming a later delivery of the run's event, is."""
    sent = "m-sent"
    blob = StatusBlob.start(
        JobName.INBOX_COUNTS, "ws-held", JobContext("accept-retry-1", "canary", sent, 1), datetime.now(UTC)
    )
    first = served_by(blob, "accept-retry-1", sent)
    assert first == "the first delivery of the sent message: it never met the lock"
    assert served_by(blob.model_copy(update={"messageId": "m-copy"}), "accept-retry-1", sent).startswith(
        "a re-sent copy"
    )
    assert served_by(blob, "another", sent).startswith("another event")
    with mock_aws():
        name, config = load_stage(json.loads((ROOT / "cdk.json").read_text())["context"], "dev")
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        busy = {
            "Name": EMF_SERVICE_DIMENSION,
            "Value": FUNCTIONS[FunctionKey.INBOX].physical_name(config.name_prefix(name)),
        }
        now = datetime.now(UTC)
        cloudwatch.put_metric_data(
            Namespace=METRICS_NAMESPACE,
            MetricData=[{"MetricName": Metric.JOBS_BUSY.value, "Dimensions": [busy], "Value": 1, "Timestamp": now}],
        )
        probe = RetryProbe("ws-held", 15.0, True, True, True, 2.0, sent, first)
        target: Any = SimpleNamespace(region="us-east-1")  # retry_claim reads only the target's region
        claim = retry_claim(probe, target, name, config, Window.around(now - timedelta(minutes=2), now))
    assert not claim.proven and "by the first delivery of the sent message" in claim.figure
    assert "JobsBusy 1" in claim.note and "not proof" in claim.note
