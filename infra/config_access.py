"""How a stage's functions reach its stores inside AWS: the VPC they run in (`vpc`) and IAM database
authentication (`databaseIamAuth`). Part of the stage settings (`infra.config`), validated with them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Every stage model: unknown keys refused, values frozen, cdk.json's camelCase names or the fields' own.
STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class VpcEndpointsConfig(BaseModel):
    """The endpoints recount creates so its functions reach AWS without a NAT. Off unless asked: with private DNS (and
    the gateway's route) an endpoint carries every workload's traffic in the VPC, and goes when recount's stack goes."""

    model_config = STRICT

    dynamodb: bool = False  # a gateway endpoint, on the subnets' route tables
    sqs: bool = False
    secrets_manager: bool = Field(False, alias="secretsManager")
    xray: bool = False  # made only when the stage traces


_VPC_ID = r"^vpc-[0-9a-f]{8,17}$"
_SUBNET_ID = r"^subnet-[0-9a-f]{8,17}$"
_ROUTE_TABLE_ID = r"^rtb-[0-9a-f]{8,17}$"
_GROUP_ID = r"^sg-[0-9a-f]{8,17}$"


class VpcConfig(BaseModel):
    """An existing VPC's private subnets for the functions, and either security groups or the ports of the
    group recount makes (egress only: those ports and HTTPS)."""

    model_config = STRICT

    vpc_id: str = Field(alias="vpcId", pattern=_VPC_ID)
    subnet_ids: list[Annotated[str, Field(pattern=_SUBNET_ID)]] = Field(alias="subnetIds", min_length=1)
    availability_zones: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]] = Field(
        alias="availabilityZones", description="each subnet's, in the same order"
    )
    route_table_ids: list[Annotated[str, Field(pattern=_ROUTE_TABLE_ID)]] | None = Field(
        None, alias="routeTableIds", description="each subnet's; needed for the DynamoDB gateway endpoint"
    )
    security_group_ids: list[Annotated[str, Field(pattern=_GROUP_ID)]] | None = Field(
        None, alias="securityGroupIds", min_length=1
    )
    ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = Field(None, min_length=1)
    endpoints: VpcEndpointsConfig = VpcEndpointsConfig()

    @model_validator(mode="after")
    def _complete(self) -> VpcConfig:
        problems = []
        if len(self.availability_zones) != len(self.subnet_ids):
            problems.append("availabilityZones must name each subnet's zone, in the order of subnetIds")
        if self.route_table_ids is not None and len(self.route_table_ids) != len(self.subnet_ids):
            problems.append("routeTableIds must name each subnet's route table, in the order of subnetIds")
        if self.endpoints.dynamodb and self.route_table_ids is None:
            problems.append("the DynamoDB gateway endpoint needs routeTableIds (or set endpoints.dynamodb false)")
        if (self.security_group_ids is None) == (self.ports is None):
            problems.append(
                "give either securityGroupIds (groups of your own) or ports (the PostgreSQL and Redis ports the "
                "group recount makes may reach)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def interface_services(self, *, tracing: bool) -> dict[str, str]:
        """The interface endpoints recount makes, each with private DNS: `endpoints` entry -> AWS's service name."""
        wanted = {
            "sqs": ("sqs", self.endpoints.sqs),
            "secretsManager": ("secretsmanager", self.endpoints.secrets_manager),
            "xray": ("xray", self.endpoints.xray and tracing),  # made only when the stage traces
        }
        return {entry: service for entry, (service, on) in wanted.items() if on}

    def shared_zone(self, zones: list[str], *, tracing: bool) -> str | None:
        """Why these subnets (in `zones`, in subnetIds' order) cannot carry recount's interface endpoints, if so:
        an interface endpoint takes at most one subnet per Availability Zone, and each gets all the subnets."""
        services = self.interface_services(tracing=tracing)
        seen: dict[str, str] = {}
        for subnet_id, zone in zip(self.subnet_ids, zones, strict=True):
            if services and zone in seen:
                return (
                    f"vpc.subnetIds {seen[zone]} and {subnet_id} are both in {zone}, and an interface endpoint "
                    f"({', '.join(services)}) takes one subnet per zone: keep one per zone, or set those "
                    "vpc.endpoints false"
                )
            seen.setdefault(zone, subnet_id)
        return None


class DatabaseIamAuthConfig(BaseModel):
    """IAM database authentication: the functions sign a token for `user` on the database or proxy whose resource
    id this is (`prx-…` for an RDS Proxy, `db-…` for an instance, `cluster-…` for an Aurora cluster)."""

    model_config = STRICT

    resource_id: str = Field(alias="resourceId", pattern=r"^(prx|db|cluster)-[A-Za-z0-9]+$")
    user: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

    def connect_resource(self) -> str:
        """The resource name in `arn:aws:rds-db:<region>:<account>:dbuser:<this>` that rds-db:connect names."""
        return f"{self.resource_id}/{self.user}"
