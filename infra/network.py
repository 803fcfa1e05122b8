"""The functions' place in an existing VPC: its subnets, a security group, and the endpoints that let them reach
AWS without a NAT. Everything comes from the stage's settings (ids in cdk.json): the synth looks nothing up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config_access import VpcConfig
from infra.nag import acknowledge

HTTPS = 443


@dataclass(frozen=True)
class Reach:
    """What recount's functions (their roles) call through the endpoints: each endpoint denies those roles anything
    else, and leaves every other principal the access AWS's default policy gives."""

    role_arns: Sequence[str]
    queue_arns: Sequence[str]
    table_arn: str
    secret_arns: Sequence[str]
    tracing: bool


class FunctionNetwork(Construct):
    """`vpc`, `subnets` and `security_groups` to place a function with; then `add_endpoints` for the endpoints the
    stage asked for (their policies name the functions' roles, so they come after the functions)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: VpcConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=config.vpc_id, availability_zones=config.availability_zones
        )
        self.subnets = ec2.SubnetSelection(
            subnets=[
                ec2.Subnet.from_subnet_attributes(
                    self,
                    f"Subnet{index}",
                    subnet_id=subnet_id,
                    availability_zone=config.availability_zones[index],
                    route_table_id=config.route_table_ids[index] if config.route_table_ids else None,
                )
                for index, subnet_id in enumerate(config.subnet_ids)
            ]
        )
        self.security_groups = self._groups(config)
        # The group recount makes (`ports` mode): the stores' groups must admit it (a stack output).
        self.own_group: ec2.SecurityGroup | None = next(
            (group for group in self.security_groups if isinstance(group, ec2.SecurityGroup)), None
        )

    def add_endpoints(self, reach: Reach) -> None:
        endpoints = self.config.endpoints
        interface = {
            "Sqs": (
                endpoints.sqs,
                ec2.InterfaceVpcEndpointAwsService.SQS,
                ["sqs:SendMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                list(reach.queue_arns),
            ),
            "SecretsManager": (
                endpoints.secrets_manager,
                ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                list(reach.secret_arns),
            ),
            # AWS's default policy: X-Ray's actions take no resource, and its endpoint policy support is unsure.
            "XRay": (endpoints.xray and reach.tracing, ec2.InterfaceVpcEndpointAwsService.XRAY, [], []),
        }
        if any(wanted for wanted, *_ in interface.values()):
            endpoint_group = ec2.SecurityGroup(
                self,
                "EndpointsSecurityGroup",
                vpc=self.vpc,
                description="recount VPC endpoints: HTTPS from the VPC (private DNS sends every workload here)",
                allow_all_outbound=False,
            )
            # Private DNS resolves the service to these addresses for every workload in the VPC: all must get in.
            endpoint_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS), "every workload in the VPC")
            acknowledge(
                endpoint_group,
                "AwsSolutions-EC23",
                "Interface endpoint addresses are private (only the VPC and networks routed to it reach them), and "
                "private DNS sends every workload in the VPC to them; the endpoint policy and IAM decide access.",
            )
            for name, (wanted, service, actions, resources) in interface.items():
                if wanted:
                    endpoint = ec2.InterfaceVpcEndpoint(
                        self,
                        name,
                        vpc=self.vpc,
                        service=service,
                        subnets=self.subnets,
                        security_groups=[endpoint_group],
                        private_dns_enabled=True,
                        open=False,
                    )
                    if actions:
                        for statement in _policy(reach.role_arns, actions, resources):
                            endpoint.add_to_policy(statement)
        if endpoints.dynamodb:
            gateway = ec2.GatewayVpcEndpoint(
                self,
                "DynamoDb",
                vpc=self.vpc,
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                subnets=[self.subnets],
            )
            actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
            for statement in _policy(reach.role_arns, actions, [reach.table_arn]):
                gateway.add_to_policy(statement)

    def _groups(self, config: VpcConfig) -> list[ec2.ISecurityGroup]:
        if config.security_group_ids:
            return [
                ec2.SecurityGroup.from_security_group_id(self, f"Group{index}", group_id, mutable=False)
                for index, group_id in enumerate(config.security_group_ids)
            ]
        group = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            description="recount functions: egress to PostgreSQL, Redis and HTTPS only, no ingress",
            allow_all_outbound=False,
        )
        for port in sorted({*(config.ports or []), HTTPS}):
            group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"recount stores and AWS on port {port}")
        return [group]


def _policy(role_arns: Sequence[str], actions: list[str], resources: list[str]) -> list[iam.PolicyStatement]:
    """AWS's default policy for everyone (the endpoint carries the whole VPC's traffic to the service), and two
    denies for recount's roles alone: no action but `actions`, no resource but `resources`."""
    service = actions[0].split(":")[0]
    roles = {"ArnEquals": {"aws:PrincipalArn": list(role_arns)}}
    return [
        iam.PolicyStatement(principals=[iam.AnyPrincipal()], actions=["*"], resources=["*"]),
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            not_actions=actions,
            resources=["*"],
            conditions=roles,
        ),
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=[f"{service}:*"],
            not_resources=resources,
            conditions=roles,
        ),
    ]
