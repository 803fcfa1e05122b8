"""Template assertions on the synthesized dev stack: the properties the invariants rest on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.assets import locked
from infra.config_functions import LAMBDA_ARCHITECTURE, LAMBDA_PYTHON
from recount.bench.b10_stage import DASHBOARDS, KMS_KEYS, alarm_count
from shared.contracts.events import AnalyticsAggregatesSweep, InboxCountsSweep, parse_envelope
from shared.contracts.settings import EnvVar
from shared.topology import QUEUES, queue_key
from tests.infra.conftest import cdk_context, of_type

DEV = cdk_context()["recount:stages"]["dev"]
FUNCTIONS = {
    "InboxCounts": ("inbox", "recount-dev-inbox-counts"),
    "Analytics": ("analytics", "recount-dev-analytics"),
    "Sweeper": ("sweeper", "recount-dev-sweeper"),
}


def function_named(resources: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    for key, resource in of_type(resources, "AWS::Lambda::Function").items():
        if resource["Properties"]["FunctionName"] == name:
            return key, resource["Properties"]
    raise AssertionError(name)


def test_every_work_queue_redrives_to_its_own_dead_letter_queue_after_max_receive_count(
    resources: dict[str, dict[str, Any]],
) -> None:
    queues = {
        r["Properties"]["QueueName"]: (k, r["Properties"]) for k, r in of_type(resources, "AWS::SQS::Queue").items()
    }
    for name in ("counts", "counts-high", "analytics", "sweep"):
        _, queue = queues[f"recount-dev-{name}"]
        dlq_id, dlq = queues[f"recount-dev-{name}-dlq"]
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": DEV["maxReceiveCount"],
        }
        assert dlq["MessageRetentionPeriod"] == 14 * 86_400
        assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
        assert f":recount-dev-{name}" in json.dumps(dlq["RedriveAllowPolicy"]["sourceQueueArns"])
    assert DEV["maxReceiveCount"] >= 5


def test_visibility_timeouts_are_six_times_the_consuming_function_timeout(resources: dict[str, dict[str, Any]]) -> None:
    queues = {r["Properties"]["QueueName"]: r["Properties"] for r in of_type(resources, "AWS::SQS::Queue").values()}
    for queue, function in (
        ("counts", "inbox"),
        ("counts-high", "inbox"),
        ("analytics", "analytics"),
        ("sweep", "sweeper"),
    ):
        assert queues[f"recount-dev-{queue}"]["VisibilityTimeout"] == 6 * DEV[function]["timeoutSeconds"]


@pytest.fixture(scope="module")
def prod_resources(prod_template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(prod_template_json["Resources"])


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_on_the_shipped_stages_a_crashed_invocations_records_come_back_within_five_minutes(
    stage: str, request: pytest.FixtureRequest
) -> None:
    # Given the stage as cdk.json ships it, synthesized (so its time-budget check held)
    resources: dict[str, dict[str, Any]] = request.getfixturevalue("resources" if stage == "dev" else "prod_resources")
    # Then every function's timeout is 50 s or less, and every queue's visibility timeout 300 s or less (SQS's
    # default, 30 s, where a queue sets none): a crashed invocation's records are visible again within 5 minutes
    timeouts = [f["Properties"]["Timeout"] for f in of_type(resources, "AWS::Lambda::Function").values()]
    assert len(timeouts) == 3 and max(timeouts) <= 50, timeouts
    queues = of_type(resources, "AWS::SQS::Queue").values()
    visibilities = [q["Properties"].get("VisibilityTimeout", 30) for q in queues]
    assert len(visibilities) == 9 and max(visibilities) <= 300, visibilities


def test_queues_are_encrypted_and_refuse_plain_http(resources: dict[str, dict[str, Any]]) -> None:
    for queue in of_type(resources, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    policies = of_type(resources, "AWS::SQS::QueuePolicy").values()
    assert len(policies) == len(of_type(resources, "AWS::SQS::Queue"))
    for policy in policies:
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_functions_run_the_latest_python_on_arm64_with_a_cap_and_tracing(resources: dict[str, dict[str, Any]]) -> None:
    for label, (key, name) in FUNCTIONS.items():
        _, function = function_named(resources, name)
        assert function["Runtime"] == LAMBDA_PYTHON and function["Architectures"] == [LAMBDA_ARCHITECTURE], label
        assert function["ReservedConcurrentExecutions"] == DEV[key]["reservedConcurrency"]
        assert function["Timeout"] == DEV[key]["timeoutSeconds"] and function["MemorySize"] == DEV[key]["memoryMb"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["Handler"].startswith("functions.") and function["Handler"].endswith(".handler.lambda_handler")


def test_event_sources_report_item_failures_and_never_exceed_the_reservation(
    resources: dict[str, dict[str, Any]],
) -> None:
    by_function: dict[str, list[dict[str, Any]]] = {}
    for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        by_function.setdefault(mapping["Properties"]["FunctionName"]["Ref"], []).append(mapping["Properties"])
    for label, (key, name) in FUNCTIONS.items():
        function_id, function = function_named(resources, name)
        mappings = by_function[function_id]
        assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
        assert all(m["BatchSize"] == DEV[key]["batchSize"] for m in mappings)
        total = sum(m["ScalingConfig"]["MaximumConcurrency"] for m in mappings)
        assert total <= function["ReservedConcurrentExecutions"], label
    inbox_id, _ = function_named(resources, "recount-dev-inbox-counts")
    assert len(by_function[inbox_id]) == 2  # counts and counts-high share the inbox function's cap


def test_functions_get_the_environment_contract_and_no_plain_credentials(resources: dict[str, dict[str, Any]]) -> None:
    required = {
        EnvVar.DATABASE_SECRET_ARN,
        EnvVar.REDIS_SECRET_ARN,
        EnvVar.IDEMPOTENCY_TABLE_NAME,
        EnvVar.COUNTS_QUEUE_URL,
        EnvVar.COUNTS_HIGH_QUEUE_URL,
        EnvVar.ANALYTICS_QUEUE_URL,
        EnvVar.MAX_RECEIVE_COUNT,
        EnvVar.ANALYTICS_AGGREGATES_ENABLED,
    }
    for _, name in FUNCTIONS.values():
        variables = function_named(resources, name)[1]["Environment"]["Variables"]
        assert {str(v) for v in required} <= set(variables), name
        assert EnvVar.DATABASE_URL not in variables and EnvVar.REDIS_URL not in variables
        assert variables[EnvVar.DATABASE_SECRET_ARN] == DEV["databaseSecretArn"]
        assert variables[EnvVar.MAX_RECEIVE_COUNT] == str(DEV["maxReceiveCount"])
    queues = {r["Properties"]["QueueName"]: k for k, r in of_type(resources, "AWS::SQS::Queue").items()}
    # Each function knows the dead-letter queue of every queue it consumes, and may send only to those
    own_dead_letters = {
        "recount-dev-inbox-counts": {"counts", "counts-high"},
        "recount-dev-analytics": {"analytics"},
        "recount-dev-sweeper": {"sweep"},
    }
    for name, consumed in own_dead_letters.items():
        variables = function_named(resources, name)[1]["Environment"]["Variables"]
        dead_letter_variables = {v: ref for v, ref in variables.items() if v.endswith("_DEAD_LETTER_QUEUE_URL")}
        expected = {
            QUEUES[queue_key(queue)].dead_letter_url_variable.value: {"Ref": queues[f"recount-dev-{queue}-dlq"]}  # type: ignore[index]
            for queue in consumed
        }
        assert dead_letter_variables == expected, name


def test_schedules_put_valid_sweep_envelopes_on_the_sweep_queue_with_retries_and_a_dlq(
    resources: dict[str, dict[str, Any]],
) -> None:
    schedules = {
        r["Properties"]["Name"]: r["Properties"] for r in of_type(resources, "AWS::Scheduler::Schedule").values()
    }
    sweep_queue = next(
        k
        for k, r in of_type(resources, "AWS::SQS::Queue").items()
        if r["Properties"]["QueueName"] == "recount-dev-sweep"
    )
    expected = {
        "recount-dev-inbox-counts-sweep": (InboxCountsSweep, f"rate({DEV['inboxSweepMinutes']} minute)"),
        "recount-dev-analytics-aggregates-sweep": (
            AnalyticsAggregatesSweep,
            f"rate({DEV['analyticsSweepMinutes']} minutes)",
        ),
    }
    assert set(schedules) == set(expected)
    for name, (model, rate) in expected.items():
        schedule = schedules[name]
        assert schedule["ScheduleExpression"] == rate
        target = schedule["Target"]
        assert target["Arn"] == {"Fn::GetAtt": [sweep_queue, "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1 and "DeadLetterConfig" in target
        # The scheduler fills these in per run; with values in their place the body is a valid envelope.
        body = target["Input"].replace("<aws.scheduler.execution-id>", "c1d2e3f4-0000-4000-8000-000000000000")
        body = body.replace("<aws.scheduler.scheduled-time>", "2026-11-29T10:15:00Z")
        assert isinstance(parse_envelope(body), model)


def test_idempotency_table_is_on_demand_with_ttl_recovery_and_encryption(resources: dict[str, dict[str, Any]]) -> None:
    (table,) = of_type(resources, "AWS::DynamoDB::GlobalTable").values()
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    replica = properties["Replicas"][0]
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_grants_name_their_resources_and_only_x_ray_takes_a_wildcard(resources: dict[str, dict[str, Any]]) -> None:
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                assert all(a.startswith("xray:") for a in statement["Action"]), statement
            assert not any(
                a in ("*", "sqs:*", "dynamodb:*", "secretsmanager:*")
                for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
            )


def test_secrets_are_readable_only_by_the_functions(resources: dict[str, dict[str, Any]]) -> None:
    readers = []
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "secretsmanager:GetSecretValue" in statement["Action"]:
                assert statement["Resource"] in (DEV["databaseSecretArn"], DEV["redisSecretArn"])
                readers.append(policy["Properties"]["Roles"][0]["Ref"])
    assert len(set(readers)) == 3  # the three function roles, nobody else


def test_dashboard_shows_queues_dead_letters_functions_and_recount_metrics(
    resources: dict[str, dict[str, Any]],
) -> None:
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Dead-letter queues",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
        "FreshnessLag",
        "JobsSucceeded",
        "JobsFailed",
        "JobsDeadLettered",
        "JobsSkippedDuplicate",
        "JobsSkippedCoalesced",
        "RecomputeDuration",
        "DirtyBacklog",
        "DirtyOldestAge",
    ):
        assert needle in body, needle


def test_alarms_cover_dead_letters_backlog_freshness_and_errors_and_notify_the_topic(
    resources: dict[str, dict[str, Any]],
) -> None:
    alarms = list(of_type(resources, "AWS::CloudWatch::Alarm").values())
    (topic_id,) = of_type(resources, "AWS::SNS::Topic")
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": topic_id}]
        by_metric.setdefault(properties["MetricName"], []).append(properties)
    dead_letters = by_metric["ApproximateNumberOfMessagesVisible"]
    assert len(dead_letters) == 5 and all(a["Threshold"] == 0 for a in dead_letters)  # 4 DLQs + the schedules'
    ages = by_metric["ApproximateAgeOfOldestMessage"]
    assert len(ages) == 4 and all(a["Threshold"] == DEV["alarms"]["oldestMessageAgeSeconds"] for a in ages)
    (freshness,) = by_metric["FreshnessLag"]
    assert freshness["ExtendedStatistic"] == "p95" and freshness["Threshold"] == 15_000
    assert freshness["Namespace"] == "recount"
    assert len(by_metric["Errors"]) == 3


def test_b10_prices_the_alarms_dashboards_and_keys_the_stack_makes(resources: dict[str, dict[str, Any]]) -> None:
    assert len(of_type(resources, "AWS::CloudWatch::Alarm")) == alarm_count()
    assert len(of_type(resources, "AWS::CloudWatch::Dashboard")) == DASHBOARDS
    assert len(of_type(resources, "AWS::KMS::Key")) == KMS_KEYS


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(resources: dict[str, dict[str, Any]]) -> None:
    (topic,) = of_type(resources, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    (key,) = of_type(resources, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert "cloudwatch.amazonaws.com" in json.dumps(key["Properties"]["KeyPolicy"])


def test_cloudwatch_may_publish_to_the_alarm_topic_for_this_account_and_these_alarms_only(
    resources: dict[str, dict[str, Any]],
) -> None:
    (policy,) = of_type(resources, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    scoped = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    assert sorted(arn["Fn::GetAtt"][0] for arn in scoped) == sorted(alarms)
    (topic_id,) = of_type(resources, "AWS::SNS::Topic")
    assert allow["Resource"] == {"Ref": topic_id} and policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    # and the TLS rule stays: a Deny for plain HTTP, for everyone
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_every_resource_policy_denies_plain_http_and_allows_only_what_writes_without_a_role(
    resources: dict[str, dict[str, Any]],
) -> None:
    """Queue policies hold only the TLS Deny: every writer (the functions, the schedules) writes through its
    role's grants. The topic's Allow for CloudWatch is the one service principal, tested above."""
    policies = {**of_type(resources, "AWS::SQS::QueuePolicy"), **of_type(resources, "AWS::SNS::TopicPolicy")}
    kinds = {resource["Type"] for resource in resources.values()}
    assert not {kind for kind in kinds if kind.endswith("Policy") and "::IAM::" not in kind} - {
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
    }
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert policy["Type"] == "AWS::SNS::TopicPolicy"
                assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    for schedule in of_type(resources, "AWS::Scheduler::Schedule").values():
        assert "RoleArn" in schedule["Properties"]["Target"]


def test_cdk_nag_is_clean(cloud_assembly: Path) -> None:
    # The synth fails on any unacknowledged finding; the report must also be empty.
    report = json.loads((cloud_assembly / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_cfn_lint_is_clean(cloud_assembly: Path) -> None:
    import subprocess
    import sys

    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # the console script; .cfnlintrc is read from cwd
    result = subprocess.run(
        [str(cfn_lint), str(cloud_assembly / "recount-dev.template.json")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_function_assets_hold_the_handler_shared_and_every_locked_dependency_built_for_arm64(
    cloud_assembly: Path, resources: dict[str, dict[str, Any]]
) -> None:
    _, function = function_named(resources, "recount-dev-inbox-counts")
    asset = cloud_assembly / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "functions" / "inbox_counts_recompute" / "handler.py").is_file()
    assert (asset / "shared" / "queries" / "inbox_counts.sql").is_file()
    for package in ("pg8000", "scramp", "redis", "pydantic", "pydantic_core", "pydantic_settings", "aws_xray_sdk"):
        assert (asset / package / "__init__.py").is_file(), package
    # The versions the tests ran, as the lock pins them; not the Powertools layer's (only Powertools itself is)
    lock = locked()
    for name in ("pydantic", "pydantic-core", "aws-xray-sdk", "redis", "pg8000"):
        [info] = asset.glob(f"{name.replace('-', '_')}-*.dist-info")
        assert info.name == f"{name.replace('-', '_')}-{lock[name][0]}.dist-info", info.name
    assert not (asset / "aws_lambda_powertools").exists()
    compiled = [path.name for path in asset.rglob("*") if path.suffix in (".so", ".pyd")]
    assert compiled and all("cpython-314-aarch64-linux-gnu" in name for name in compiled), compiled
