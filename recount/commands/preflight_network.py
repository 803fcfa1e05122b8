"""preflight for a stage with `vpc`: the subnets and groups exist in that VPC, and the subnets are private; with
--connect, a store that does not answer in time gets the inbound rule its security group lacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from infra.config import StageConfig
from infra.config_access import VpcConfig
from recount.commands.preflight import Check, _error
from shared.topology import FUNCTIONS_SECURITY_GROUP_OUTPUT

_MISSING = {"InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidVpcID.NotFound", "InvalidGroupId.Malformed"}


def network_checks(client: Callable[[str], Any], vpc: VpcConfig | None) -> Iterator[Check]:
    if vpc is None:
        return
    ec2 = client("ec2")
    try:
        subnets = ec2.describe_subnets(SubnetIds=vpc.subnet_ids)["Subnets"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _MISSING:
            raise
        yield Check("vpc subnets", False, _error(error), "set vpc.subnetIds to subnets of the VPC that exist")
        return
    by_id = {subnet["SubnetId"]: subnet for subnet in subnets}
    for index, subnet_id in enumerate(vpc.subnet_ids):
        yield _subnet(ec2, vpc, by_id[subnet_id], index)
    if vpc.security_group_ids:
        yield _groups(ec2, vpc)


def _subnet(ec2: Any, vpc: VpcConfig, subnet: dict[str, Any], index: int) -> Check:
    name = f"subnet {subnet['SubnetId']}"
    if subnet["VpcId"] != vpc.vpc_id:
        return Check(name, False, f"is in {subnet['VpcId']}, not {vpc.vpc_id}", "use subnets of the stage's VPC")
    if subnet["AvailabilityZone"] != vpc.availability_zones[index]:
        return Check(
            name,
            False,
            f"is in {subnet['AvailabilityZone']}, not {vpc.availability_zones[index]}",
            "list availabilityZones in the order of subnetIds",
        )
    table = _route_table(ec2, vpc.vpc_id, subnet["SubnetId"])
    if vpc.route_table_ids and table and table["RouteTableId"] != vpc.route_table_ids[index]:
        return Check(
            name,
            False,
            f"routes through {table['RouteTableId']}, not {vpc.route_table_ids[index]}",
            "list routeTableIds in the order of subnetIds",
        )
    gateways = [route.get("GatewayId", "") for route in (table or {}).get("Routes", [])]
    if any(gateway.startswith("igw-") for gateway in gateways):
        return Check(
            name,
            False,
            "is public (its route table has a route to an internet gateway): a function there gets no public "
            "address, so it reaches neither the internet nor AWS",
            "use private subnets (routes to a NAT or none, with the endpoints)",
        )
    return Check(name, True, f"private, in {subnet['AvailabilityZone']}")


def _route_table(ec2: Any, vpc_id: str, subnet_id: str) -> dict[str, Any] | None:
    """The subnet's own route table, or else the VPC's main one (which a subnet without its own uses)."""
    for filters in (
        [{"Name": "association.subnet-id", "Values": [subnet_id]}],
        [{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}],
    ):
        tables = ec2.describe_route_tables(Filters=filters)["RouteTables"]
        if tables:
            return dict(tables[0])
    return None


def _groups(ec2: Any, vpc: VpcConfig) -> Check:
    assert vpc.security_group_ids
    try:
        groups = ec2.describe_security_groups(GroupIds=vpc.security_group_ids)["SecurityGroups"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _MISSING:
            raise
        return Check("security groups", False, _error(error), "set vpc.securityGroupIds to groups that exist")
    elsewhere = [group["GroupId"] for group in groups if group["VpcId"] != vpc.vpc_id]
    if elsewhere:
        return Check("security groups", False, f"{', '.join(elsewhere)} not in {vpc.vpc_id}", "use the VPC's groups")
    return Check("security groups", True, ", ".join(vpc.security_group_ids))


def timed_out(error: BaseException | None) -> bool:
    """A socket timeout anywhere in the chain (the adapters wrap it: pg8000's and redis-py's errors, then ours)."""
    while error is not None:
        if isinstance(error, TimeoutError):
            return True
        error = error.__cause__ or error.__context__
    return False


def functions_group(client: Callable[[str], Any], config: StageConfig, stack_name: str) -> str:
    """Whom a store's security group must admit for the functions: their groups, or the one recount makes."""
    if config.vpc is None:
        return "the internet (the functions run in no VPC: give the stage `vpc` to reach a private store)"
    if config.vpc.security_group_ids:
        return f"the functions' security groups {', '.join(config.vpc.security_group_ids)}"
    try:
        outputs = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    except ClientError:  # not deployed yet: the first deploy makes the group
        outputs = []
    group = next((o["OutputValue"] for o in outputs if o["OutputKey"] == FUNCTIONS_SECURITY_GROUP_OUTPUT), None)
    where = f"{stack_name}'s output {FUNCTIONS_SECURITY_GROUP_OUTPUT}"
    return f"the functions' group {group} ({where})" if group else f"the functions' group ({where}, after the deploy)"


def unanswered(store: str, url: str, functions: str) -> Check:
    """A connect that timed out: what a security group not admitting the source looks like (it drops, not refuses)."""
    parts = urlsplit(url)
    port = parts.port or (6379 if store == "redis" else 5432)
    owner = "the cache's" if store == "redis" else "the database's (or its RDS Proxy's)"
    return Check(
        f"{store} reachable",
        False,
        f"{parts.hostname}:{port} did not answer in time (what a security group that does not admit you looks like)",
        f"{owner} security group must admit TCP {port} from {functions}, and from here for --connect",
    )
