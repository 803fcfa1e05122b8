"""recount canary against the local runtime (it holds at a modest rate; it fails a threshold it cannot meet),
and against a deployed stack's queues on moto's server, where nothing consumes (it fails, naming why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from recount.local.pipeline import LocalPipeline
from shared.adapters.postgres import PostgresDatabase
from shared.topology import QUEUES
from tests.builders import Workspace

ROOT = Path(__file__).resolve().parents[3]


def canary(state: Path, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {"RECOUNT_LOCAL_STATE": str(state), "POWERTOOLS_TRACE_DISABLED": "true", **env}
    result = subprocess.run(
        [sys.executable, "-m", "recount", "canary", "--no-view", "--json", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


def test_canary_on_the_local_runtime_holds_at_a_modest_rate_and_fails_a_threshold_it_cannot_meet(
    local: tuple[LocalPipeline, Path], db: PostgresDatabase
) -> None:
    _, state = local
    # Given the app's table also holds an id outside recount's clientId rule, which the sample must skip
    db.run("INSERT INTO \"Client\" (id, name, \"userId\", \"updatedAt\") VALUES ('not a valid id;', 'x', 'u', now())")
    code, report, stderr = canary(state, "--rate", "4", "--duration", "3", "--workspaces", "2")
    assert code == 0, stderr + json.dumps(report)
    assert report["events"] == 12 and report["unfinished"] == 0 and report["problems"] == []
    assert report["recomputed"] + report["skipped"] + report["cleared"] == 12 and report["recomputed"] >= 2
    assert 0 < report["freshnessMs"]["p95"] <= report["thresholds"]["max_freshness_p95_ms"] == 15000  # dev's alarm
    # Given a freshness threshold no pipeline meets
    code, report, stderr = canary(state, "--rate", "2", "--duration", "2", "--max-freshness-p95-ms", "1")
    assert code == 1 and "problems" in report, stderr
    assert any(problem.startswith("freshness p95") for problem in report["problems"]), report["problems"]


def test_canary_on_a_stack_where_nothing_consumes_fails_naming_the_events_that_never_finished(
    local: tuple[LocalPipeline, Path], database_url: str, redis_url: str, workspace: Workspace
) -> None:
    pipeline, state = local
    endpoint, region = pipeline.target.endpoint_url, pipeline.target.region or "us-east-1"
    # Given a stack's outputs on moto's server: its queues, and no functions behind them
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for queue in QUEUES.values():
        for output, suffix in ((queue.url_output, ""), (queue.dead_letter_output, "-dlq")):
            resources[output] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"canary-{queue.name}{suffix}"}}
            outputs[output] = {"Value": {"Ref": output}}
    credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region, **credentials)
    cloudformation.create_stack(
        StackName="recount-dev", TemplateBody=json.dumps({"Resources": resources, "Outputs": outputs})
    )
    env = {
        "AWS_ENDPOINT_URL": str(endpoint),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }
    code, report, stderr = canary(
        state,
        "--stack",
        "recount-dev",
        "--region",
        region,
        "--client-id",
        workspace.id,
        "--rate",
        "2",
        "--duration",
        "2",
        "--max-backlog-age-s",
        "2",
        **env,
    )
    assert code == 1, stderr
    assert report["target"] == "recount-dev" and report["events"] == 4 and report["unfinished"] == 4
    assert report["problems"][0] == "4 of 4 events never finished"
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region, **credentials)
    url = sqs.get_queue_url(QueueName="canary-counts")["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == "4"
    # and a workspace that does not exist is one line, before anything is sent
    code, _, stderr = canary(state, "--stack", "recount-dev", "--region", region, "--client-id", "ws-missing", **env)
    assert code == 2 and "no such workspace: ws-missing" in stderr
