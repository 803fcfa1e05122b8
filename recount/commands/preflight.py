"""recount preflight: what `cdk deploy` of a stage would meet in its account, checked read-only beforehand.

Each check reads with the deploying credentials (boto3's chain; AWS_ENDPOINT_URL is honoured) and says what a
failure would have cost at deploy time, and what to do instead. Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from infra.config import StageConfig
from infra.config_functions import POWERTOOLS_VERSION, powertools_layer_parameter
from shared.topology import FUNCTIONS, QUEUES, SCHEDULES_DEAD_LETTER_NAME, idempotency_table_name

# Lambda keeps this many executions unreserved in every account; a reservation that would leave fewer fails.
MIN_UNRESERVED_CONCURRENCY = 100
BOOTSTRAP_STACK = "CDKToolkit"
# The default qualifier's version parameter; the synthesized template's CheckBootstrapVersion rule wants >= 6.
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6
# A stack in one of these states is created anew by the next deploy (CloudFormation deletes it first).
NOT_A_STACK = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    fix: str = ""  # what to do when it did not pass


@dataclass
class Preflight:
    stage: str
    stack_name: str
    account: str = "?"
    region: str = "?"
    checks: list[Check] = field(default_factory=list)

    @property
    def blockers(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def _error(error: BaseException) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', '?')}: {' '.join(str(info.get('Message', '')).split())}"
    return " ".join(str(error).split()) or type(error).__name__


def _exists(call: Callable[[], Any], missing: set[str]) -> bool:
    """True when the call finds its resource, False when AWS says it is not there (by error code)."""
    try:
        call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in missing:
            return False
        raise
    return True


def run_preflight(stage: str, config: StageConfig, *, region: str | None = None, connect: bool = False) -> Preflight:
    """Every check, in the order a deploy would meet them; the credentials' failure stops the rest."""
    from recount.commands.preflight_database import database_checks  # they build on this module's Check
    from recount.commands.preflight_endpoints import endpoint_checks
    from recount.commands.preflight_network import network_checks
    from recount.commands.preflight_stores import store_checks

    report = Preflight(stage=stage, stack_name=f"recount-{stage}")
    report.region = config.region
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service, region_name=config.region)
        return clients[service]

    try:
        identity = client("sts").get_caller_identity()
    except (NoCredentialsError, ClientError, BotoCoreError) as error:
        report.checks.append(
            Check("credentials", False, f"no usable AWS credentials: {_error(error)}", "set the deploying profile")
        )
        return report
    report.account = identity["Account"]
    report.checks.append(Check("credentials", True, f"{identity['Arn']} in account {report.account}"))
    for check in _account_and_region(report, config, region):
        report.checks.append(check)
    checks: list[Callable[[], Iterator[Check]]] = [
        lambda: _bootstrap(client, report),
        lambda: _powertools_layer(client),
        lambda: _concurrency(client, config, report),
        lambda: store_checks(client, config, report, connect=connect),
        lambda: _retained(client, config, report),
        lambda: network_checks(client, config.vpc),
        lambda: endpoint_checks(client, config, report.stack_name),
        lambda: database_checks(client, config.database_iam_auth),
    ]
    for run in checks:
        try:
            report.checks.extend(run())
        except (ClientError, BotoCoreError) as error:  # a check that could not run says so, as a blocker
            report.checks.append(Check("aws", False, f"a check could not run: {_error(error)}", "see the error"))
    return report


def _account_and_region(report: Preflight, config: StageConfig, region: str | None) -> Iterator[Check]:
    if config.account and config.account != report.account:
        yield Check(
            "account",
            False,
            f"the credentials reach account {report.account}; stage {report.stage} deploys to {config.account}",
            "use the stage's account's credentials, or change its account in cdk.json",
        )
    else:
        yield Check("account", True, config.account or f"{report.account} (the stage names none: the credentials')")
    if region and region != config.region:
        yield Check(
            "region",
            False,
            f"--region {region}, but stage {report.stage} deploys to {config.region}",
            "drop --region, or change the stage's region in cdk.json",
        )
    else:
        yield Check("region", True, config.region)


def _bootstrap(client: Callable[[str], Any], report: Preflight) -> Iterator[Check]:
    try:
        stacks = client("cloudformation").describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except ClientError as error:
        if "does not exist" not in _error(error):
            raise
        stacks = []
    status = stacks[0]["StackStatus"] if stacks else "missing"
    usable = status.endswith("_COMPLETE") and not status.startswith(("DELETE", "ROLLBACK"))
    detail = f"{BOOTSTRAP_STACK} is {status}"
    if usable:
        try:
            version = int(client("ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"])
        except (ClientError, ValueError):
            version = 0
        usable = version >= MIN_BOOTSTRAP_VERSION
        detail += f", version {version or 'unknown'} ({BOOTSTRAP_VERSION_PARAMETER}; the stack needs >= 6)"
    yield Check(
        "cdk bootstrap",
        usable,
        detail,
        f"run `npx cdk bootstrap aws://{report.account}/{report.region}` (again, to upgrade it)",
    )


def _powertools_layer(client: Callable[[str], Any]) -> Iterator[Check]:
    ssm = client("ssm")
    name = powertools_layer_parameter(POWERTOOLS_VERSION)
    try:
        arn = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        latest = powertools_layer_parameter("latest")
        try:
            hint = f"; {latest} is {ssm.get_parameter(Name=latest)['Parameter']['Value']}"
        except ClientError:
            hint = f"; {latest} is missing too"
        yield Check(
            "powertools layer",
            False,
            f"{name} does not exist in this region{hint}",
            "pin aws-lambda-powertools in requirements.txt to a version the region publishes (tests run it too)",
        )
        return
    yield Check("powertools layer", True, f"{name} = {arn}")


def _concurrency(client: Callable[[str], Any], config: StageConfig, report: Preflight) -> Iterator[Check]:
    lambda_ = client("lambda")
    limit = lambda_.get_account_settings()["AccountLimit"]
    unreserved = int(limit["UnreservedConcurrentExecutions"])
    needed = 0
    for key, function in FUNCTIONS.items():
        needed += config.function(key).reserved_concurrency
        try:  # an update gives back what this stack's functions already reserve
            current = lambda_.get_function_concurrency(
                FunctionName=function.physical_name(config.name_prefix(report.stage))
            )
            unreserved += int(current.get("ReservedConcurrentExecutions") or 0)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
    left = unreserved - needed
    yield Check(
        "lambda concurrency",
        left >= MIN_UNRESERVED_CONCURRENCY,
        f"account limit {limit['ConcurrentExecutions']}, unreserved {unreserved}; the stage reserves {needed}, "
        f"leaving {left} (Lambda requires at least {MIN_UNRESERVED_CONCURRENCY})",
        "request a higher 'Concurrent executions' quota (Service Quotas, Lambda), or lower reservedConcurrency",
    )


def _retained(client: Callable[[str], Any], config: StageConfig, report: Preflight) -> Iterator[Check]:
    """A first deploy fails on a name a previous deploy retained (the table, the dead-letter queues, the logs)."""
    try:
        stacks = client("cloudformation").describe_stacks(StackName=report.stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" not in _error(error):
            raise
        stacks = []
    status = stacks[0]["StackStatus"] if stacks else None
    if status is not None and status not in NOT_A_STACK:
        stuck = status.endswith(("_IN_PROGRESS", "_FAILED"))
        yield Check(
            "retained resources",
            not stuck,
            f"{report.stack_name} is {status}" + ("" if stuck else ": the deploy updates it"),
            "wait for it to settle, or fix it in the CloudFormation console (continue the rollback, delete it)",
        )
        return
    prefix = config.name_prefix(report.stage)
    left: list[str] = []
    table = idempotency_table_name(prefix)
    if _exists(lambda: client("dynamodb").describe_table(TableName=table), {"ResourceNotFoundException"}):
        left.append(f"table {table}")
    queue_names = [queue.dead_letter_name(prefix) for queue in QUEUES.values()]
    queue_names.append(f"{prefix}-{SCHEDULES_DEAD_LETTER_NAME}")
    for queue_name in queue_names:
        found = _exists(
            lambda name=queue_name: client("sqs").get_queue_url(QueueName=name),  # type: ignore[misc]
            {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"},
        )
        if found:
            left.append(f"queue {queue_name}")
    for function in FUNCTIONS.values():
        group = f"/aws/lambda/{function.physical_name(prefix)}"
        groups = client("logs").describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        if any(found["logGroupName"] == group for found in groups):
            left.append(f"log group {group}")
    yield Check(
        "retained resources",
        not left,
        f"left by an earlier deploy: {', '.join(left)}" if left else f"none of {prefix}'s names are taken",
        "delete them (after saving what they hold), or set the stage's nameSuffix to deploy beside them",
    )
