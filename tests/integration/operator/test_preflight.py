"""recount preflight against moto's server: each blocker it exists to catch, and the all-clear.

moto has no Lambda GetAccountSettings and refuses to create the reserved /aws/service/ parameters AWS publishes:
the server runs in this process, so the test serves the one and seeds the other in moto's own backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import moto.awslambda.urls
import pytest
from moto.server import ThreadedMotoServer
from moto.ssm.models import Parameter, ssm_backends

from infra.config import load_stage
from infra.config_functions import POWERTOOLS_VERSION, powertools_layer_parameter
from recount.commands.preflight import (
    BOOTSTRAP_STACK,
    BOOTSTRAP_VERSION_PARAMETER,
    MIN_UNRESERVED_CONCURRENCY,
    run_preflight,
)
from recount.commands.preflight_stores import RECOUNT_OBJECTS, reach
from shared.adapters.postgres import PostgresDatabase
from tests.conftest import ADMIN_DATABASE_URL

ROOT = Path(__file__).resolve().parents[3]
REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's
ACCOUNT_SETTINGS: dict[str, Any] = {}


def _account_settings(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json"}, json.dumps(ACCOUNT_SETTINGS)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    moto.awslambda.urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = _account_settings
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def account(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh account on moto's server where everything preflight checks is in place; tests take parts away."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    ACCOUNT_SETTINGS.clear()
    ACCOUNT_SETTINGS.update(
        {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}, "AccountUsage": {}}
    )
    seed_layer_parameter(POWERTOOLS_VERSION)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=BOOTSTRAP_STACK,
        TemplateBody=json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}),
    )
    boto3.client("ssm", region_name=REGION).put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="29", Type="String")
    secrets = boto3.client("secretsmanager", region_name=REGION)
    database = secrets.create_secret(
        Name="recount/dev/database", SecretString="postgresql://recount:pw@db.internal:5432/app"
    )["ARN"]
    redis = secrets.create_secret(
        Name="recount/dev/redis", SecretString=json.dumps({"host": "cache.internal", "port": 6379, "password": "p"})
    )["ARN"]
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    dev = context["recount:stages"]["dev"]
    dev.update({"account": DEFAULT_ACCOUNT_ID, "databaseSecretArn": database, "redisSecretArn": redis})
    return context


def seed_layer_parameter(version: str) -> None:
    name = powertools_layer_parameter(version)
    arn = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:7"
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters[name].append(
        Parameter(DEFAULT_ACCOUNT_ID, name, arn, "String", None, None, None, datetime.now(UTC), 1, "text")  # type: ignore[abstract]
    )


def preflight(context: dict[str, Any], **options: Any) -> dict[str, tuple[bool, str]]:
    stage, config = load_stage(context, "dev")
    report = run_preflight(stage, config, **options)
    return {check.name: (check.passed, check.detail) for check in report.checks}


def test_all_clear_exits_0_and_lists_every_check(account: dict[str, Any], tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": account}))
    result = run_cli("--stage", "dev", "--cdk-json", str(cdk_json), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blockers"] == 0 and report["account"] == DEFAULT_ACCOUNT_ID
    assert [check["name"] for check in report["checks"]] == [
        "credentials",
        "account",
        "region",
        "cdk bootstrap",
        "powertools layer",
        "lambda concurrency",
        "database secret",
        "redis secret",
        "retained resources",
    ]


def test_a_missing_layer_parameter_exits_1_naming_it_and_latest(account: dict[str, Any], tmp_path: Path) -> None:
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters.pop(powertools_layer_parameter(POWERTOOLS_VERSION))
    seed_layer_parameter("latest")
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": account}))
    result = run_cli("--stage", "dev", "--cdk-json", str(cdk_json))
    assert result.returncode == 1
    [blocker] = [line for line in result.stderr.splitlines() if line.startswith("blocker:")]
    assert f"powertools layer: {powertools_layer_parameter(POWERTOOLS_VERSION)} does not exist" in blocker
    assert f"{powertools_layer_parameter('latest')} is arn:aws:lambda:" in blocker


def test_the_shipped_cdk_json_is_refused_for_its_example_secrets(account: dict[str, Any]) -> None:
    result = run_cli("--stage", "dev")
    assert result.returncode == 1
    blockers = [line for line in result.stderr.splitlines() if line.startswith("blocker:")]
    assert any(line.startswith("blocker: database secret:") and "example" in line for line in blockers)
    assert any(line.startswith("blocker: redis secret:") and "example" in line for line in blockers)


def test_another_account_or_region_blocks(account: dict[str, Any]) -> None:
    account["recount:stages"]["dev"]["account"] = "999999999999"
    checks = preflight(account, region="eu-west-1")
    assert checks["account"] == (
        False,
        f"the credentials reach account {DEFAULT_ACCOUNT_ID}; stage dev deploys to 999999999999",
    )
    assert checks["region"][0] is False and "deploys to us-east-1" in checks["region"][1]


def test_an_account_not_bootstrapped_or_bootstrapped_long_ago_blocks(account: dict[str, Any]) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="4", Type="String", Overwrite=True)
    passed, detail = preflight(account)["cdk bootstrap"]
    assert not passed and "version 4" in detail
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName=BOOTSTRAP_STACK)
    passed, detail = preflight(account)["cdk bootstrap"]
    assert not passed and f"{BOOTSTRAP_STACK} is" in detail


def test_too_little_unreserved_concurrency_blocks(account: dict[str, Any]) -> None:
    ACCOUNT_SETTINGS["AccountLimit"] = {"ConcurrentExecutions": 50, "UnreservedConcurrentExecutions": 50}
    passed, detail = preflight(account)["lambda concurrency"]
    assert not passed
    assert f"at least {MIN_UNRESERVED_CONCURRENCY}" in detail and "leaving 40" in detail  # dev reserves 6 + 2 + 2


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "ResourceNotFoundException"),
        ("{not json", "neither a URL nor JSON"),
        ("postgresql://user:pw@localhost:5432/app", "placeholder"),
        ("postgresql://u:p@[db.internal:5432/app", "Invalid IPv6 URL"),
        ('{"url": "not a url at all"}', "not a postgres or postgresql URL with a host"),
        ("rediss://:p@cache.internal:6379", "not a postgres or postgresql URL with a host"),
        ("postgresql://u:p@db1.internal,db2.internal/app", "names several hosts"),
        ("postgresql://u:p@db.internal/app?sslmode=verify-full&foo=1", 'invalid URI query parameter: "foo"'),
    ],
    ids=["missing", "unparsable", "placeholder", "bad-url", "no-scheme", "another-store", "multi-host", "unknown"],
)
def test_a_database_secret_that_cannot_serve_blocks(account: dict[str, Any], secret: str | None, expected: str) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = account["recount:stages"]["dev"]["databaseSecretArn"]
    if secret is None:
        secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    else:
        secrets.put_secret_value(SecretId=arn, SecretString=secret)
    passed, detail = preflight(account)["database secret"]
    assert not passed and expected in detail


def test_a_secret_under_a_key_the_functions_get_no_grant_for_blocks(account: dict[str, Any]) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(
        Name="recount/dev/database-cmk", SecretString="postgresql://r:p@db.internal:5432/app", KmsKeyId=key
    )["ARN"]
    account["recount:stages"]["dev"]["databaseSecretArn"] = arn
    passed, detail = preflight(account)["database secret"]
    assert not passed and f"encrypted with {key}" in detail
    account["recount:stages"]["dev"]["secretsKmsKeyArn"] = key  # the stack grants the functions that key
    assert preflight(account)["database secret"][0] is True


def test_a_stack_whose_creation_rolled_back_does_not_hide_what_it_left(account: dict[str, Any]) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stack = cloudformation.create_stack(
        StackName="recount-dev", TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    )["StackId"]
    from moto.cloudformation.models import cloudformation_backends

    cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].stacks[stack].status = "ROLLBACK_COMPLETE"
    boto3.client("sqs", region_name=REGION).create_queue(QueueName="recount-dev-counts-dlq")
    passed, detail = preflight(account)["retained resources"]
    assert not passed and "queue recount-dev-counts-dlq" in detail
    # A stack still rolling back is not deployable either
    cloudformation_backends[DEFAULT_ACCOUNT_ID][REGION].stacks[stack].status = "UPDATE_ROLLBACK_FAILED"
    passed, detail = preflight(account)["retained resources"]
    assert not passed and detail == "recount-dev is UPDATE_ROLLBACK_FAILED"


def test_a_missing_profile_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "recount", "preflight", "--stage", "dev"],
        cwd=ROOT,
        env={**os.environ, "AWS_PROFILE": "nope", "AWS_CONFIG_FILE": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "blocker: credentials: no usable AWS credentials: The config profile (nope) could not be found" in (
        " ".join(result.stderr.split())
    )


def test_resources_a_destroyed_stack_retained_block_until_renamed(account: dict[str, Any]) -> None:
    boto3.client("sqs", region_name=REGION).create_queue(QueueName="recount-dev-counts-dlq")
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/lambda/recount-dev-sweeper")
    passed, detail = preflight(account)["retained resources"]
    assert (
        not passed
        and "queue recount-dev-counts-dlq" in detail
        and "log group /aws/lambda/recount-dev-sweeper" in detail
    )
    # With a name suffix, the stage deploys beside them
    account["recount:stages"]["dev"]["nameSuffix"] = "b"
    assert preflight(account)["retained resources"][0] is True


def test_connect_reaches_the_stores_and_names_what_migrate_has_not_created(database_url: str, redis_url: str) -> None:
    assert reach("redis", redis_url).passed
    migrated = reach("database", database_url)
    assert (migrated.name, migrated.passed) == ("database schema", True)
    # Given a database recount's migration never ran on
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run('DROP DATABASE IF EXISTS "recount_preflight_empty"')
    admin.run('CREATE DATABASE "recount_preflight_empty"')
    try:
        empty = reach("database", f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/recount_preflight_empty")
        assert not empty.passed and empty.detail == f"missing: {', '.join(RECOUNT_OBJECTS)}"
        assert "recount migrate --recount-only" in empty.fix
    finally:
        admin.run('DROP DATABASE IF EXISTS "recount_preflight_empty" WITH (FORCE)')
        admin.close()
    unreachable = reach("redis", "redis://127.0.0.1:1/0")
    assert (unreachable.name, unreachable.passed) == ("redis reachable", False)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recount", "preflight", *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _network(private: bool = True) -> dict[str, Any]:
    """A VPC with two subnets on moto's server, private unless asked; the stage's `vpc` settings for it."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc_id = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})  # off in a new VPC, as in AWS
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    if not private:
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    subnets, zones = [], []
    for index, zone in enumerate(("us-east-1a", "us-east-1b")):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.8.{index}.0/24", AvailabilityZone=zone)["Subnet"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet["SubnetId"])
        subnets.append(subnet["SubnetId"])
        zones.append(zone)
    group = ec2.create_security_group(GroupName="recount-fns", Description="recount", VpcId=vpc_id)["GroupId"]
    return {
        "vpcId": vpc_id,
        "subnetIds": subnets,
        "availabilityZones": zones,
        "routeTableIds": [table, table],
        "securityGroupIds": [group],
        # every endpoint recount can make (they are opt-in): preflight checks what each would need
        "endpoints": {"dynamodb": True, "sqs": True, "secretsManager": True, "xray": True},
    }


def test_a_vpc_stage_passes_with_private_subnets_and_its_groups(account: dict[str, Any]) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    checks = preflight(account)
    assert all(checks[f"subnet {subnet}"][0] for subnet in vpc["subnetIds"]), checks
    assert checks["security groups"] == (True, vpc["securityGroupIds"][0])
    assert checks["endpoint subnets"] == (True, "one subnet per Availability Zone")
    assert checks["vpc dns"] == (True, f"{vpc['vpcId']} has enableDnsSupport and enableDnsHostnames on")
    for entry, name in (("sqs", "sqs"), ("secretsManager", "secretsmanager"), ("xray", "xray")):
        assert checks[f"{entry} endpoint"] == (
            True,
            f"nothing else in {vpc['vpcId']} answers for {name}.{REGION}.amazonaws.com",
        )
    assert all(passed for passed, _ in checks.values()), checks


def test_a_vpc_stage_with_public_missing_or_foreign_parts_blocks(account: dict[str, Any]) -> None:
    public = _network(private=False)
    account["recount:stages"]["dev"]["vpc"] = public
    checks = preflight(account)
    passed, detail = checks[f"subnet {public['subnetIds'][0]}"]
    assert not passed and "is public" in detail
    other = _network()
    account["recount:stages"]["dev"]["vpc"] = {**public, "securityGroupIds": other["securityGroupIds"]}
    passed, detail = preflight(account)["security groups"]
    assert not passed and f"not in {public['vpcId']}" in detail
    account["recount:stages"]["dev"]["vpc"] = {
        **other,
        "subnetIds": ["subnet-0a1b2c3d4e5f60711", other["subnetIds"][1]],
    }
    passed, detail = preflight(account)["vpc subnets"]
    assert not passed and "InvalidSubnetID.NotFound" in detail


def _proxy(iam_auth: str, *others: tuple[str, str]) -> str:
    """An RDS Proxy for PostgreSQL on moto's server, with IAM auth as given for its secret's user (and for the
    users named in `others`); its resource id (the last part of its ARN)."""
    subnets = _network()["subnetIds"]
    secret = f"arn:aws:secretsmanager:{REGION}:1:secret:db-AbCdEf"
    named = [{"AuthScheme": "SECRETS", "SecretArn": secret, "UserName": u, "IAMAuth": m} for u, m in others]
    proxy = boto3.client("rds", region_name=REGION).create_db_proxy(
        DBProxyName=f"recount-{iam_auth.lower()}-{len(others)}",
        EngineFamily="POSTGRESQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": iam_auth}, *named],
        RoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/proxy",
        VpcSubnetIds=subnets,
    )["DBProxy"]
    return str(proxy["DBProxyArn"]).rsplit(":", 1)[-1]


def test_an_iam_auth_stage_passes_when_its_proxy_or_cluster_takes_iam_tokens(account: dict[str, Any]) -> None:
    dev = account["recount:stages"]["dev"]
    dev["databaseIamAuth"] = {"resourceId": _proxy("REQUIRED"), "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert passed and "RDS Proxy" in detail and "as recount" in detail, detail
    cluster = boto3.client("rds", region_name=REGION).create_db_cluster(
        DBClusterIdentifier="app",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="a-long-password",
        EnableIAMDatabaseAuthentication=True,
    )["DBCluster"]
    dev["databaseIamAuth"] = {"resourceId": cluster["DbClusterResourceId"], "user": "recount"}
    assert preflight(account)["iam database auth"][0]


def test_an_iam_auth_stage_blocks_on_a_resource_that_is_missing_or_refuses_tokens(account: dict[str, Any]) -> None:
    dev = account["recount:stages"]["dev"]
    dev["databaseIamAuth"] = {"resourceId": "prx-0a1b2c3d4e5f60718", "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert (
        not passed and detail == "no RDS Proxy with resource id prx-0a1b2c3d4e5f60718 in the stage's account and region"
    )
    dev["databaseIamAuth"] = {"resourceId": _proxy("DISABLED"), "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert not passed and "does not take IAM tokens for recount" in detail, detail
    # Another user's entry takes tokens, recount's does not: recount's decides
    mixed = _proxy("REQUIRED", ("admin", "REQUIRED"), ("recount", "DISABLED"))
    dev["databaseIamAuth"] = {"resourceId": mixed, "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert not passed and "does not take IAM tokens for recount" in detail, detail
    instance = boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier="app",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        MasterUsername="app",
        MasterUserPassword="a-long-password",
        AllocatedStorage=20,
    )["DBInstance"]
    dev["databaseIamAuth"] = {"resourceId": instance["DbiResourceId"], "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert not passed and "DB instance" in detail and "does not take IAM tokens" in detail, detail
    assert "iam database auth" not in preflight(
        {**account, "recount:stages": {"dev": {**dev, "databaseIamAuth": None}}}
    )


def test_an_iam_auth_stage_naming_an_aurora_member_instance_blocks(account: dict[str, Any]) -> None:
    # (a test of its own: moto gives every DB instance of an account the same resource id)
    dev = account["recount:stages"]["dev"]
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_cluster(
        DBClusterIdentifier="aurora",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="a-long-password",
        EnableIAMDatabaseAuthentication=True,
    )
    member = rds.create_db_instance(
        DBInstanceIdentifier="aurora-1",
        DBClusterIdentifier="aurora",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )["DBInstance"]
    dev["databaseIamAuth"] = {"resourceId": member["DbiResourceId"], "user": "recount"}
    passed, detail = preflight(account)["iam database auth"]
    assert not passed and "is an instance of the cluster aurora" in detail, detail


def blocker(context: dict[str, Any], name: str) -> str:
    """The check's one line as `recount preflight` prints a blocker, after asserting it is one."""
    stage, config = load_stage(context, "dev")
    [check] = [check for check in run_preflight(stage, config).checks if check.name == name]
    assert not check.passed, check
    line = f"{check.name}: {check.detail} ({check.fix})"
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    ("attribute", "others"), [("EnableDnsSupport", "enableDnsSupport"), ("EnableDnsHostnames", "enableDnsHostnames")]
)
def test_a_vpc_without_dns_support_or_hostnames_blocks(account: dict[str, Any], attribute: str, others: str) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    boto3.client("ec2", region_name=REGION).modify_vpc_attribute(VpcId=vpc["vpcId"], **{attribute: {"Value": False}})
    assert blocker(account, "vpc dns") == (
        f"vpc dns: {vpc['vpcId']} has {others} off: the endpoints' private DNS cannot be enabled and the deploy fails "
        f"(turn on {others} in {vpc['vpcId']}'s settings, or set the stage's vpc.endpoints sqs, secretsManager, xray "
        "false (the subnets then need a NAT))"
    )


def test_an_sqs_endpoint_with_private_dns_already_in_the_vpc_blocks_naming_the_entry(account: dict[str, Any]) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    ec2 = boto3.client("ec2", region_name=REGION)
    theirs = ec2.create_vpc_endpoint(
        VpcId=vpc["vpcId"],
        ServiceName=f"com.amazonaws.{REGION}.sqs",
        VpcEndpointType="Interface",
        SubnetIds=vpc["subnetIds"],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    assert blocker(account, "sqs endpoint") == (
        f"sqs endpoint: {vpc['vpcId']} already has {theirs} with private DNS for sqs.{REGION}.amazonaws.com: "
        "recount's would fail with ConflictingDomainExists (set the stage's vpc.endpoints.sqs false: the functions "
        f"use what already answers for sqs.{REGION}.amazonaws.com)"
    )
    assert preflight(account)["secretsManager endpoint"][0] is True
    # Turned off, recount makes no SQS endpoint and checks none
    account["recount:stages"]["dev"]["vpc"] = {**vpc, "endpoints": {"sqs": False}}
    checks = preflight(account)
    assert "sqs endpoint" not in checks and all(passed for passed, _ in checks.values()), checks


def test_an_endpoint_without_private_dns_or_in_another_vpc_does_not_block(account: dict[str, Any]) -> None:
    vpc, other = _network(), _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    ec2 = boto3.client("ec2", region_name=REGION)
    for vpc_id, subnets, private_dns in (
        (vpc["vpcId"], vpc["subnetIds"], False),
        (other["vpcId"], other["subnetIds"], True),
    ):
        ec2.create_vpc_endpoint(
            VpcId=vpc_id,
            ServiceName=f"com.amazonaws.{REGION}.sqs",
            VpcEndpointType="Interface",
            SubnetIds=subnets,
            PrivateDnsEnabled=private_dns,
        )
    assert preflight(account)["sqs endpoint"][0] is True


def test_a_private_hosted_zone_for_the_secrets_manager_name_blocks_naming_the_entry(account: dict[str, Any]) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    name = f"secretsmanager.{REGION}.amazonaws.com"
    zone = (
        boto3.client("route53", region_name=REGION)
        .create_hosted_zone(
            Name=name,
            CallerReference="hub-endpoints",
            HostedZoneConfig={"PrivateZone": True, "Comment": "a central endpoint in another VPC"},
            VPC={"VPCRegion": REGION, "VPCId": vpc["vpcId"]},
        )["HostedZone"]["Id"]
        .rsplit("/", 1)[-1]
    )
    assert blocker(account, "secretsManager endpoint") == (
        f"secretsManager endpoint: {vpc['vpcId']} is associated with the private hosted zone {name} ({zone}): "
        "recount's would fail with ConflictingDomainExists (set the stage's vpc.endpoints.secretsManager false: the "
        f"functions use what already answers for {name})"
    )
    assert preflight(account)["sqs endpoint"][0] is True


def test_subnets_in_one_zone_block_though_the_stage_lists_two(account: dict[str, Any]) -> None:
    vpc = _network()
    ec2 = boto3.client("ec2", region_name=REGION)
    second = ec2.create_subnet(VpcId=vpc["vpcId"], CidrBlock="10.8.9.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    ec2.associate_route_table(RouteTableId=vpc["routeTableIds"][0], SubnetId=second["SubnetId"])
    first = vpc["subnetIds"][0]
    account["recount:stages"]["dev"]["vpc"] = {**vpc, "subnetIds": [first, second["SubnetId"]]}
    assert blocker(account, "endpoint subnets") == (
        f"endpoint subnets: vpc.subnetIds {first} and {second['SubnetId']} are both in us-east-1a, and an interface "
        "endpoint (sqs, secretsManager, xray) takes one subnet per zone: keep one per zone, or set those "
        "vpc.endpoints false (and list each subnet's real zone in vpc.availabilityZones)"
    )


def test_an_update_does_not_block_on_the_endpoints_its_own_stack_made(account: dict[str, Any]) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    endpoint = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcId": vpc["vpcId"],
            "ServiceName": f"com.amazonaws.{REGION}.sqs",
            "VpcEndpointType": "Interface",
            "SubnetIds": vpc["subnetIds"],
            "PrivateDnsEnabled": True,
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="recount-dev", TemplateBody=json.dumps({"Resources": {"Sqs": endpoint}})
    )
    assert preflight(account)["sqs endpoint"][0] is True
    # The same endpoint in another stack is someone else's
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="neighbour", TemplateBody=json.dumps({"Resources": {"Sqs": endpoint}})
    )
    assert preflight(account)["sqs endpoint"][0] is False


def test_a_dynamodb_gateway_endpoint_already_on_the_route_tables_blocks_naming_it(account: dict[str, Any]) -> None:
    vpc = _network()
    account["recount:stages"]["dev"]["vpc"] = vpc
    ec2 = boto3.client("ec2", region_name=REGION)
    theirs = ec2.create_vpc_endpoint(
        VpcId=vpc["vpcId"],
        ServiceName=f"com.amazonaws.{REGION}.dynamodb",
        VpcEndpointType="Gateway",
        RouteTableIds=[vpc["routeTableIds"][0]],
    )["VpcEndpoint"]["VpcEndpointId"]
    assert blocker(account, "dynamodb endpoint") == (
        f"dynamodb endpoint: {theirs} already routes {vpc['routeTableIds'][0]} to DynamoDB: recount's gateway "
        "endpoint would fail to create (set vpc.endpoints.dynamodb false: the functions use the existing endpoint)"
    )
    # Turned off, recount makes no gateway endpoint and checks none
    account["recount:stages"]["dev"]["vpc"] = {**vpc, "endpoints": {**vpc.get("endpoints", {}), "dynamodb": False}}
    checks = preflight(account)
    assert "dynamodb endpoint" not in checks and all(passed for passed, _ in checks.values()), checks
