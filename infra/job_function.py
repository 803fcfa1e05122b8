"""A job function: capped by reserved concurrency, fed by SQS sources whose maximum concurrency fits the cap."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_lambda_powertools.shared.constants import TRACER_DISABLED_ENV
from constructs import Construct

from infra.assets import build_function_asset
from infra.config import VALID_LOG_RETENTION_DAYS, FunctionConfig, powertools_layer_parameter
from infra.nag import acknowledge
from infra.network import FunctionNetwork

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
        # Resolved by CloudFormation at deploy time from AWS's public parameter: no lookup at synth.
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, powertools_layer_parameter(powertools_version))
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
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
                "POWERTOOLS_SERVICE_NAME": function_name,
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
        acknowledge(
            self.function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The managed basic execution role only lets the function write its own logs.",
        )
        if network:
            acknowledge(
                self.function,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "The managed VPC access role only lets the function manage its own network interfaces.",
            )
        if tracing:
            acknowledge(
                self.function,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray's PutTraceSegments and "
                "PutTelemetryRecords take no resource; it is the only wildcard the functions hold.",
            )
