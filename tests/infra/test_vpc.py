"""A stage with `vpc`: the functions in its subnets behind a security group, endpoints (when asked) instead of a
NAT, each endpoint leaving other workloads what AWS's default gives them and denying recount's roles anything but
their own resources; in `ports` mode the functions' group is an output; cdk-nag and cfn-lint clean. Without `vpc`,
no network at all. The VPC stage also authenticates to its database (an RDS Proxy) with IAM: `databaseIamAuth`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_stage
from recount.bench.b10_stage import stage_facts
from shared.topology import FUNCTIONS_SECURITY_GROUP_OUTPUT
from tests.infra.conftest import ROOT, cdk_context, of_type, run_app

VPC = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"],
    "availabilityZones": ["us-east-1a", "us-east-1b"],
    "routeTableIds": ["rtb-0a1b2c3d4e5f60711", "rtb-0a1b2c3d4e5f60722"],
    "ports": [5432, 6379],
    "endpoints": {"dynamodb": True, "sqs": True, "secretsManager": True, "xray": True},
}
IAM_AUTH = {"resourceId": "prx-0a1b2c3d4e5f60718", "user": "recount"}
# Groups of the team's own, the VPC already has DynamoDB's and X-Ray's endpoints, and the stage does not trace
OWN_GROUP = "sg-0a1b2c3d4e5f60799"
OWN_GROUPS = {
    **{k: v for k, v in VPC.items() if k not in ("ports", "routeTableIds")},
    "securityGroupIds": [OWN_GROUP],
    "endpoints": {"sqs": True, "secretsManager": True},
}
# A VPC shared with other workloads, as a stage that says nothing about endpoints has it: recount adds none
SHARED = {k: v for k, v in VPC.items() if k != "endpoints"}


def context_with(stage: str, vpc: dict[str, Any], **settings: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_context())
    context["recount:stages"][stage] = {**context["recount:stages"]["dev"], "vpc": vpc, **settings}
    return context


def synth(tmp_path_factory: pytest.TempPathFactory, stage: str, context: dict[str, Any]) -> Path:
    outdir = tmp_path_factory.mktemp(f"cdk.out.{stage}")
    result = run_app(outdir, {**context, "stage": stage})
    assert result.returncode == 0, result.stderr[-4000:]
    return outdir


@pytest.fixture(scope="module")
def vpc_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth(tmp_path_factory, "devvpc", context_with("devvpc", VPC, databaseIamAuth=IAM_AUTH))


@pytest.fixture(scope="module")
def vpc_resources(vpc_assembly: Path) -> dict[str, dict[str, Any]]:
    return dict(json.loads((vpc_assembly / "recount-devvpc.template.json").read_text())["Resources"])


@pytest.fixture(scope="module")
def own_groups_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = synth(tmp_path_factory, "devown", context_with("devown", OWN_GROUPS, tracing=False))
    return dict(json.loads((outdir / "recount-devown.template.json").read_text()))


@pytest.fixture(scope="module")
def own_groups_resources(own_groups_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(own_groups_template["Resources"])


def _endpoints(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Endpoint properties by service ('sqs', 'dynamodb', ...)."""
    found = {}
    for endpoint in of_type(resources, "AWS::EC2::VPCEndpoint").values():
        name = json.dumps(endpoint["Properties"]["ServiceName"]).rsplit(".", 1)[-1].strip('"]} ')
        found[name] = endpoint["Properties"]
    return found


def test_b10_prices_the_interface_endpoints_the_stack_makes_each_in_every_zone(
    vpc_resources: dict[str, dict[str, Any]],
) -> None:
    facts = stage_facts(*load_stage(context_with("devvpc", VPC, databaseIamAuth=IAM_AUTH), "devvpc"))
    endpoints = of_type(vpc_resources, "AWS::EC2::VPCEndpoint").values()
    interface = [e["Properties"] for e in endpoints if "SubnetIds" in e["Properties"]]  # a gateway has route tables

    assert len(interface) == len(facts.endpoint_services)
    assert sum(len(e["SubnetIds"]) for e in interface) == facts.endpoint_zones


def test_without_vpc_the_template_has_no_network(resources: dict[str, dict[str, Any]]) -> None:
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::EC2::")]
    assert all("VpcConfig" not in f["Properties"] for f in of_type(resources, "AWS::Lambda::Function").values())


def test_the_functions_run_in_the_subnets_behind_a_group_that_only_reaches_the_stores_and_https(
    vpc_resources: dict[str, dict[str, Any]],
) -> None:
    groups = of_type(vpc_resources, "AWS::EC2::SecurityGroup")
    functions_group = next(
        k for k, g in groups.items() if "egress to PostgreSQL" in g["Properties"]["GroupDescription"]
    )
    for function in of_type(vpc_resources, "AWS::Lambda::Function").values():
        assert function["Properties"]["VpcConfig"] == {
            "SecurityGroupIds": [{"Fn::GetAtt": [functions_group, "GroupId"]}],
            "SubnetIds": VPC["subnetIds"],
        }
    egress = groups[functions_group]["Properties"]["SecurityGroupEgress"]
    assert sorted(rule["FromPort"] for rule in egress) == [443, 5432, 6379]
    assert all(rule["IpProtocol"] == "tcp" and rule["FromPort"] == rule["ToPort"] for rule in egress)
    assert "SecurityGroupIngress" not in groups[functions_group]["Properties"]


def _role_arns(resources: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["Properties"]["Role"] for f in of_type(resources, "AWS::Lambda::Function").values()]


def _shape(endpoint: dict[str, Any], resources: dict[str, dict[str, Any]]) -> tuple[Any, list[str], Any]:
    """The endpoint policy's statements as (allow-all, the actions recount's roles are kept to, their resources),
    asserting the rest of the shape: Principal *, and both denies for recount's function roles alone."""
    allow, only_actions, only_resources = endpoint["PolicyDocument"]["Statement"]
    assert allow == {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}
    roles = {"ArnEquals": {"aws:PrincipalArn": _role_arns(resources)}}
    assert only_actions["Effect"] == only_resources["Effect"] == "Deny"
    assert only_actions["Principal"] == only_resources["Principal"] == {"AWS": "*"}
    assert only_actions["Condition"] == only_resources["Condition"] == roles
    assert only_actions["Resource"] == "*" and "Action" not in only_actions and "Resource" not in only_resources
    return allow, only_actions["NotAction"], only_resources["NotResource"]


def test_each_endpoint_leaves_others_the_default_and_keeps_recounts_roles_to_their_own_resources(
    vpc_resources: dict[str, dict[str, Any]],
) -> None:
    endpoints = _endpoints(vpc_resources)
    assert set(endpoints) == {"sqs", "secretsmanager", "xray", "dynamodb"}
    assert endpoints["dynamodb"]["VpcEndpointType"] == "Gateway"
    assert endpoints["dynamodb"]["RouteTableIds"] == VPC["routeTableIds"]
    table = next(iter(of_type(vpc_resources, "AWS::DynamoDB::GlobalTable")))
    _, actions, resource = _shape(endpoints["dynamodb"], vpc_resources)
    assert resource == {"Fn::GetAtt": [table, "Arn"]}
    assert sorted(actions) == ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    queues = {k for k in of_type(vpc_resources, "AWS::SQS::Queue") if not k.startswith("SchedulesDeadLetter")}
    _, actions, resource = _shape(endpoints["sqs"], vpc_resources)
    assert {arn["Fn::GetAtt"][0] for arn in resource} == queues
    assert not any("Delete" in action or action == "sqs:*" for action in actions)
    _, actions, resource = _shape(endpoints["secretsmanager"], vpc_resources)
    dev = cdk_context()["recount:stages"]["dev"]
    assert resource == [dev["databaseSecretArn"], dev["redisSecretArn"]]
    assert sorted(actions) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert "PolicyDocument" not in endpoints["xray"]  # AWS's default: X-Ray's actions take no resource
    (endpoint_group,) = [
        g
        for g in of_type(vpc_resources, "AWS::EC2::SecurityGroup").values()
        if "endpoints" in g["Properties"]["GroupDescription"]
    ]
    # Private DNS sends every workload of the VPC here: all of them get in, not only recount's functions
    (ingress,) = endpoint_group["Properties"]["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"], ingress["CidrIp"]) == (443, 443, "0.0.0.0/0")
    for interface in (endpoints[name] for name in ("sqs", "secretsmanager", "xray")):
        assert interface["PrivateDnsEnabled"] is True and interface["SubnetIds"] == VPC["subnetIds"]


def test_a_stage_that_names_no_endpoints_adds_nothing_to_a_shared_vpc(tmp_path_factory: pytest.TempPathFactory) -> None:
    outdir = synth(tmp_path_factory, "devshared", context_with("devshared", SHARED))
    template = json.loads((outdir / "recount-devshared.template.json").read_text())
    assert not of_type(template["Resources"], "AWS::EC2::VPCEndpoint")
    (group,) = of_type(template["Resources"], "AWS::EC2::SecurityGroup")  # the functions' own, no endpoints' group
    assert template["Outputs"]["FunctionsSecurityGroupId"]["Value"] == {"Fn::GetAtt": [group, "GroupId"]}


def test_ports_mode_outputs_the_functions_group_and_own_groups_output_none(
    vpc_assembly: Path, own_groups_template: dict[str, Any]
) -> None:
    from aws_cdk.assertions import Match, Template

    template = Template.from_json(json.loads((vpc_assembly / "recount-devvpc.template.json").read_text()))
    template.has_output(
        FUNCTIONS_SECURITY_GROUP_OUTPUT,
        {"Value": {"Fn::GetAtt": [Match.string_like_regexp("FunctionsSecurityGroup"), "GroupId"]}},
    )
    assert (
        FUNCTIONS_SECURITY_GROUP_OUTPUT not in own_groups_template["Outputs"]
    )  # the team's groups are theirs to admit


def test_a_stage_with_its_own_groups_and_endpoints_gets_only_what_it_lacks(
    own_groups_resources: dict[str, dict[str, Any]],
) -> None:
    assert set(_endpoints(own_groups_resources)) == {"sqs", "secretsmanager"}
    for function in of_type(own_groups_resources, "AWS::Lambda::Function").values():
        assert function["Properties"]["VpcConfig"]["SecurityGroupIds"] == [OWN_GROUP]
    (group,) = of_type(own_groups_resources, "AWS::EC2::SecurityGroup").values()  # the endpoints' only
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert ingress["CidrIp"] == "0.0.0.0/0" and ingress["FromPort"] == 443


def test_iam_auth_lets_each_function_connect_as_its_user_to_that_proxy_only(
    vpc_resources: dict[str, dict[str, Any]], own_groups_resources: dict[str, dict[str, Any]]
) -> None:
    functions = of_type(vpc_resources, "AWS::Lambda::Function")
    for function in functions.values():
        assert function["Properties"]["Environment"]["Variables"]["DATABASE_IAM_AUTH"] == "true"
    connects = [
        (role, statement)
        for policy in of_type(vpc_resources, "AWS::IAM::Policy").values()
        for role in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "rds-db:connect"
    ]
    assert {role["Ref"] for role, _ in connects} == {
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()
    }
    for _, statement in connects:
        assert statement["Effect"] == "Allow"
        assert json.dumps(statement["Resource"]).endswith(':dbuser:prx-0a1b2c3d4e5f60718/recount"]]}')
    # A stage without it: no token, no permission
    assert "rds-db:connect" not in json.dumps(own_groups_resources)
    assert all(
        "DATABASE_IAM_AUTH" not in f["Properties"]["Environment"]["Variables"]
        for f in of_type(own_groups_resources, "AWS::Lambda::Function").values()
    )


@pytest.mark.parametrize(
    ("iam_auth", "message"),
    [
        ({"resourceId": "prx-0a1b2c3d4e5f60718"}, "databaseIamAuth.user"),
        ({**IAM_AUTH, "resourceId": "arn:aws:rds:us-east-1:111111111111:db-proxy:prx-1"}, "databaseIamAuth.resourceId"),
        ({**IAM_AUTH, "user": "recount/*"}, "databaseIamAuth.user"),
    ],
)
def test_a_wrong_iam_auth_setting_stops_the_synth_with_one_line(iam_auth: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage(context_with("devvpc", VPC, databaseIamAuth=iam_auth), "devvpc")


def test_cdk_nag_and_cfn_lint_are_clean_with_a_vpc(vpc_assembly: Path) -> None:
    assert json.loads((vpc_assembly / "validation-report.json").read_text())["pluginReports"] == []
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(vpc_assembly / "recount-devvpc.template.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("vpc", "message"),
    [
        ({**VPC, "availabilityZones": ["us-east-1a"]}, "availabilityZones must name each subnet's zone"),
        ({k: v for k, v in VPC.items() if k != "routeTableIds"}, "the DynamoDB gateway endpoint needs routeTableIds"),
        ({**VPC, "securityGroupIds": ["sg-0a1b2c3d4e5f60799"]}, "give either securityGroupIds"),
        ({k: v for k, v in VPC.items() if k != "ports"}, "give either securityGroupIds"),
        ({**VPC, "subnetIds": ["subnet-1", "subnet-0a1b2c3d4e5f60722"]}, "vpc.subnetIds.0"),
    ],
)
def test_an_incomplete_vpc_stops_the_synth_with_one_line(vpc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage(context_with("devvpc", vpc), "devvpc")


SAME_ZONE = {**VPC, "availabilityZones": ["us-east-1a", "us-east-1a"]}


def test_subnets_sharing_a_zone_stop_the_synth_naming_them_and_the_zone() -> None:
    with pytest.raises(ConfigError) as refused:
        load_stage(context_with("devvpc", SAME_ZONE), "devvpc")
    message = str(refused.value)
    assert (
        "vpc.subnetIds subnet-0a1b2c3d4e5f60711 and subnet-0a1b2c3d4e5f60722 are both in us-east-1a, and an "
        "interface endpoint (sqs, secretsManager, xray) takes one subnet per zone" in message
    )
    assert "\n" not in message
    # Without tracing there is no X-Ray endpoint, and it is not named
    with pytest.raises(ConfigError, match=r"\(sqs, secretsManager\) takes one subnet per zone"):
        load_stage(context_with("devvpc", SAME_ZONE, tracing=False), "devvpc")


def test_subnets_sharing_a_zone_are_accepted_when_recount_makes_no_interface_endpoint() -> None:
    no_interface = {"sqs": False, "secretsManager": False, "xray": False}
    vpc: dict[str, Any] = {**SAME_ZONE, "endpoints": no_interface}
    _, config = load_stage(context_with("devvpc", vpc), "devvpc")
    assert config.vpc is not None and config.vpc.subnet_ids == VPC["subnetIds"]
    xray_only = {**vpc, "endpoints": {**no_interface, "xray": True}}
    _, untraced = load_stage(context_with("devvpc", xray_only, tracing=False), "devvpc")
    assert untraced.vpc is not None
