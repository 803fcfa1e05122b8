"""preflight --connect against a store that drops the connection, as a security group that does not admit the
source does: the blocker names the port and whom the store's security group must admit (moto's server for AWS)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.config import load_stage
from recount.commands.preflight import Check, run_preflight
from shared.topology import FUNCTIONS_SECURITY_GROUP_OUTPUT
from tests.integration.operator import test_preflight
from tests.integration.operator.test_preflight import REGION

# That module's account on moto's server (and the server it needs), as fixtures of this module too
account, endpoint = test_preflight.account, test_preflight.endpoint

HOST = "127.0.0.2"  # loopback, but not one of the placeholders preflight refuses before connecting
PORTS_MODE = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60711"],
    "availabilityZones": ["us-east-1a"],
    "ports": [5432, 6379],
}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose SYNs go unanswered: a listener whose one-place backlog is already full."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    held = [socket.socket() for _ in range(3)]
    for client in held:
        client.setblocking(False)
        client.connect_ex((HOST, port))
    yield port
    for client in [*held, listener]:
        client.close()


def _connect(account: dict[str, Any], database: str, redis: str, vpc: dict[str, Any]) -> dict[str, Check]:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    dev = account["recount:stages"]["dev"]
    secrets.put_secret_value(SecretId=dev["databaseSecretArn"], SecretString=database)
    secrets.put_secret_value(SecretId=dev["redisSecretArn"], SecretString=redis)
    dev["vpc"] = vpc
    stage, config = load_stage(account, "dev")
    return {check.name: check for check in run_preflight(stage, config, connect=True).checks}


def test_a_store_that_does_not_answer_names_the_rule_its_security_group_lacks(
    account: dict[str, Any], silent_port: int
) -> None:
    database = f"postgresql://recount:pw@{HOST}:{silent_port}/app?connect_timeout=1"
    checks = _connect(account, database, f"redis://:pw@{HOST}:{silent_port}/0", PORTS_MODE)
    output = f"recount-dev's output {FUNCTIONS_SECURITY_GROUP_OUTPUT}"
    for store, owner in (("database", "the database's (or its RDS Proxy's)"), ("redis", "the cache's")):
        check = checks[f"{store} reachable"]
        assert not check.passed and check.detail.startswith(f"{HOST}:{silent_port} did not answer in time")
        assert check.fix == (
            f"{owner} security group must admit TCP {silent_port} from the functions' group ({output}, after the "
            "deploy), and from here for --connect"
        )
    # Deployed: the group's id, from the stack's output
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="recount-dev",
        TemplateBody=json.dumps(
            {
                "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {FUNCTIONS_SECURITY_GROUP_OUTPUT: {"Value": "sg-0a1b2c3d4e5f60799"}},
            }
        ),
    )
    no_redis = "redis://:pw@127.0.0.1:6379/0"  # a placeholder: preflight stops before connecting
    check = _connect(account, database, no_redis, PORTS_MODE)["database reachable"]
    assert f"TCP {silent_port} from the functions' group sg-0a1b2c3d4e5f60799 ({output})" in check.fix
    # The team's own groups: those are the ones to admit
    own = {**{k: v for k, v in PORTS_MODE.items() if k != "ports"}, "securityGroupIds": ["sg-0a1b2c3d4e5f60711"]}
    check = _connect(account, database, no_redis, own)["database reachable"]
    assert f"TCP {silent_port} from the functions' security groups sg-0a1b2c3d4e5f60711," in check.fix


def test_a_store_that_refuses_is_not_called_a_security_group(account: dict[str, Any]) -> None:
    closed = socket.socket()
    closed.bind((HOST, 0))
    port = int(closed.getsockname()[1])
    closed.close()  # nothing listens: the connection is refused at once, which no security group does
    check = _connect(account, f"postgresql://r:pw@{HOST}:{port}/app", "redis://:p@127.0.0.1:6379/0", PORTS_MODE)[
        "database reachable"
    ]
    assert not check.passed and "security group" not in check.fix and "postgres unreachable" in check.detail
