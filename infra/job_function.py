"""A job function: capped by reserved concurrency, fed by SQS sources whose maximum concurrency fits the cap."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.assets import build_function_asset
from infra.config_functions import VALID_LOG_RETENTION_DAYS, FunctionConfig, powertools_layer_parameter
from infra.nag import acknowledge
from infra.network import FunctionNetwork
from shared.contracts.powertools_env import SERVICE_NAME_ENV, TRACER_DISABLED_ENV

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


class JobFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_dir: str,
        function_name: str,
        config: FunctionConfig,
        sources_with_concurrency: Sequence[tuple[sqs.IQueue, int]],
        environment: dict[str, str],
        powertools_version: str,
        log_retention_days: int,
        tracing: bool = True,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=getattr(logs.RetentionDays, VALID_LOG_RETENTION_DAYS[log_retention_days]),
            # Outlives the stack; a failed first create deletes it, or the retry hits "already exists".
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        # A role of its own instead of CDK's default, whose AWSLambdaBasicExecutionRole writes to every log group:
        # this one writes only the function's own group (it exists already, so no logs:CreateLogGroup).
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        if network:
            role.add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
            )
        # Resolved by CloudFormation at deploy time from AWS's public parameter: no lookup at synth.
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter(powertools_version))
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            role=role,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"functions.{function_dir}.handler.lambda_handler",
            code=lambda_.Code.from_asset(str(build_function_asset(function_dir))),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            timeout=Duration.seconds(config.timeout_seconds),
            memory_size=config.memory_mb,
            reserved_concurrent_executions=config.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=network.security_groups if network else None,
            environment={
                SERVICE_NAME_ENV: function_name,
                **({} if tracing else {TRACER_DISABLED_ENV: "true"}),  # shared.telemetry then makes no Tracer
                **environment,
            },
        )
        for queue, max_concurrency in sources_with_concurrency:
            self.function.add_event_source(
                sources.SqsEventSource(
                    queue,
                    batch_size=config.batch_size,
                    max_batching_window=Duration.seconds(config.batching_window_seconds),
                    report_batch_item_failures=True,
                    max_concurrency=max_concurrency,
                )
            )
            # The consumer changes visibility, re-sends copies and hands records back.
            queue.grant_send_messages(self.function)
            queue.grant(self.function, "sqs:ChangeMessageVisibility")
        if network:
            acknowledge(
                self,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "AWS's VPC access role grants ENI create/describe/delete on * (Lambda makes the ENIs before they "
                "have ARNs) and logs writes on *; kept whole: Lambda checks it on deploy and no narrower set has run.",
            )
        if tracing:
            acknowledge(
                self,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and "
                "PutTelemetryRecords take no resource; it is the only wildcard the functions hold.",
            )
