"""The functions' place in an existing VPC: its subnets, a security group, and the endpoints that let them reach
AWS without a NAT. Everything comes from the stage's settings (ids in cdk.json): the synth looks nothing up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config_access import VpcConfig

HTTPS = 443


@dataclass(frozen=True)
class Reach:
    """What the functions call through the endpoints, so each endpoint's policy names only these."""

    queue_arns: Sequence[str]
    table_arn: str
    secret_arns: Sequence[str]
    tracing: bool


class FunctionNetwork(Construct):
    """`vpc`, `subnets` and `security_groups` to place a function with; the endpoints the stage asked for."""

    def __init__(self, scope: Construct, construct_id: str, *, config: VpcConfig, reach: Reach) -> None:
        super().__init__(scope, construct_id)
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
        endpoints = config.endpoints
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
            "XRay": (
                endpoints.xray and reach.tracing,
                ec2.InterfaceVpcEndpointAwsService.XRAY,
                [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                ],
                ["*"],  # X-Ray's actions take no resource
            ),
        }
        if any(wanted for wanted, *_ in interface.values()):
            endpoint_group = ec2.SecurityGroup(
                self,
                "EndpointsSecurityGroup",
                vpc=self.vpc,
                description="recount VPC endpoints: HTTPS from recount functions only",
                allow_all_outbound=False,
            )
            for group in self.security_groups:
                endpoint_group.add_ingress_rule(
                    ec2.Peer.security_group_id(group.security_group_id), ec2.Port.tcp(HTTPS), "recount functions"
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
                    endpoint.add_to_policy(_allow(actions, resources))
        if endpoints.dynamodb:
            gateway = ec2.GatewayVpcEndpoint(
                self,
                "DynamoDb",
                vpc=self.vpc,
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                subnets=[self.subnets],
            )
            gateway.add_to_policy(
                _allow(
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    [reach.table_arn],
                )
            )

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


def _allow(actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(principals=[iam.AnyPrincipal()], actions=actions, resources=resources)
