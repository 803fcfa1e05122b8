"""preflight for the interface endpoints a `vpc` stage makes with private DNS: the subnets' real zones, the VPC's
DNS attributes, and no other endpoint or private hosted zone already answering for the same names (each of
these fails the deploy late, the last with ConflictingDomainExists)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from infra.config import StageConfig
from infra.config_access import VpcConfig
from recount.commands.preflight import Check, _error

# A private DNS name resolves only with both; AWS's names for them in DescribeVpcAttribute.
DNS_ATTRIBUTES = ("enableDnsSupport", "enableDnsHostnames")
# An endpoint in one of these states no longer holds its names.
GONE = {"deleting", "deleted", "rejected", "failed", "expired"}


def endpoint_checks(client: Callable[[str], Any], config: StageConfig, stack_name: str) -> Iterator[Check]:
    vpc = config.vpc
    if vpc is None:
        return
    services = vpc.interface_services(tracing=config.tracing)
    route_tables = vpc.route_table_ids if vpc.endpoints.dynamodb else None
    if not services and not route_tables:
        return
    ec2 = client("ec2")
    ours = _stack_endpoints(client, stack_name)  # an update meets the endpoints its own stack made
    endpoints = [
        endpoint
        for page in ec2.get_paginator("describe_vpc_endpoints").paginate()
        for endpoint in page["VpcEndpoints"]
        if endpoint["VpcId"] == vpc.vpc_id and endpoint["VpcEndpointId"] not in ours
    ]
    if route_tables:
        yield _gateway(config.region, route_tables, endpoints)
    if not services:
        return
    yield from _zones(ec2, vpc, tracing=config.tracing)
    yield _dns_attributes(ec2, vpc.vpc_id, list(services))
    zones = _private_zones(client("route53"), vpc.vpc_id, config.region)
    for entry, service in services.items():
        yield _conflicts(entry, service, config.region, vpc.vpc_id, endpoints, zones)


def _gateway(region: str, route_tables: list[str], endpoints: list[dict[str, Any]]) -> Check:
    """A route table holds one route per prefix list: another DynamoDB gateway endpoint on one of the stage's route
    tables makes recount's fail to create (RouteAlreadyExists)."""
    check, fix = "dynamodb endpoint", "set vpc.endpoints.dynamodb false: the functions use the existing endpoint"
    for endpoint in endpoints:
        shared = sorted(set(endpoint.get("RouteTableIds", [])) & set(route_tables))
        if (
            endpoint.get("VpcEndpointType", "").lower() == "gateway"
            and endpoint["ServiceName"].endswith(f".{region}.dynamodb")
            and endpoint.get("State", "").lower() not in GONE
            and shared
        ):
            detail = f"{endpoint['VpcEndpointId']} already routes {', '.join(shared)} to DynamoDB"
            return Check(check, False, f"{detail}: recount's gateway endpoint would fail to create", fix)
    return Check(check, True, f"no other DynamoDB gateway endpoint on {', '.join(route_tables)}")


def _zones(ec2: Any, vpc: VpcConfig, *, tracing: bool) -> Iterator[Check]:
    """The stage's availabilityZones passed validation; the subnets' real zones decide (a missing subnet is the
    network check's to report)."""
    try:
        subnets = {
            s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=vpc.subnet_ids)["Subnets"]
        }
    except ClientError:
        return
    shared = vpc.shared_zone([subnets[subnet_id] for subnet_id in vpc.subnet_ids], tracing=tracing)
    yield Check(
        "endpoint subnets",
        shared is None,
        shared or "one subnet per Availability Zone",
        "and list each subnet's real zone in vpc.availabilityZones",
    )


def _dns_attributes(ec2: Any, vpc_id: str, entries: list[str]) -> Check:
    off = [
        attribute
        for attribute in DNS_ATTRIBUTES
        if not ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[attribute[0].upper() + attribute[1:]][
            "Value"
        ]
    ]
    return Check(
        "vpc dns",
        not off,
        f"{vpc_id} has {' and '.join(off)} off: the endpoints' private DNS cannot be enabled and the deploy fails"
        if off
        else f"{vpc_id} has {' and '.join(DNS_ATTRIBUTES)} on",
        f"turn on {' and '.join(off)} in {vpc_id}'s settings, or set the stage's vpc.endpoints "
        f"{', '.join(entries)} false (the subnets then need a NAT)",
    )


def _stack_endpoints(client: Callable[[str], Any], stack_name: str) -> set[str]:
    try:
        pages = list(client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name))
    except ClientError as error:
        if "does not exist" not in _error(error):
            raise
        return set()
    return {
        resource.get("PhysicalResourceId", "")
        for page in pages
        for resource in page["StackResourceSummaries"]
        if resource["ResourceType"] == "AWS::EC2::VPCEndpoint"
    }


def _private_zones(route53: Any, vpc_id: str, region: str) -> dict[str, str]:
    """The account-owned private hosted zones associated with the VPC, by name (an endpoint's own, service-owned
    zone is found as its endpoint)."""
    zones: dict[str, str] = {}
    request: dict[str, str] = {"VPCId": vpc_id, "VPCRegion": region}
    while True:
        page = route53.list_hosted_zones_by_vpc(**request)
        for zone in page["HostedZoneSummaries"]:
            if "OwningService" not in zone.get("Owner", {}):
                zones[zone["Name"].rstrip(".").lower()] = zone["HostedZoneId"]
        if not page.get("NextToken"):
            return zones
        request["NextToken"] = page["NextToken"]


def _conflicts(
    entry: str, service: str, region: str, vpc_id: str, endpoints: list[dict[str, Any]], zones: dict[str, str]
) -> Check:
    name = f"{service}.{region}.amazonaws.com" + (".cn" if region.startswith("cn-") else "")
    check = f"{entry} endpoint"
    fix = f"set the stage's vpc.endpoints.{entry} false: the functions use what already answers for {name}"
    for endpoint in endpoints:
        if (
            endpoint["ServiceName"].endswith(f".{region}.{service}")
            and endpoint.get("PrivateDnsEnabled")
            and endpoint.get("State", "").lower() not in GONE
        ):
            detail = f"{vpc_id} already has {endpoint['VpcEndpointId']} with private DNS for {name}"
            return Check(check, False, f"{detail}: recount's would fail with ConflictingDomainExists", fix)
    if name in zones:
        detail = f"{vpc_id} is associated with the private hosted zone {name} ({zones[name]})"
        return Check(check, False, f"{detail}: recount's would fail with ConflictingDomainExists", fix)
    return Check(check, True, f"nothing else in {vpc_id} answers for {name}")
