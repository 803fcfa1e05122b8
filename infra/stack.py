"""The recount stack: composes queues, functions, schedules, the idempotency table and monitoring."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.config_functions import POWERTOOLS_VERSION
from infra.idempotency_table import IdempotencyTable
from infra.job_function import JobFunction
from infra.monitoring import Monitoring, WatchedQueue
from infra.nag import acknowledge
from infra.network import FunctionNetwork, Reach
from infra.queues import DEAD_LETTER_RETENTION, QueueWithDeadLetter
from infra.schedules import SweepSchedules
from shared.contracts.settings import EnvVar
from shared.topology import (
    FUNCTIONS,
    FUNCTIONS_SECURITY_GROUP_OUTPUT,
    IDEMPOTENCY_TABLE_OUTPUT,
    QUEUES,
    SCHEDULES_DEAD_LETTER_NAME,
    SCHEDULES_DEAD_LETTER_OUTPUT,
    FunctionKey,
    QueueKey,
    function_environment,
    idempotency_table_name,
)


class RecountStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, config: StageConfig, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        prefix = config.name_prefix(stage)

        queues = {
            key: QueueWithDeadLetter(
                self,
                spec.construct_id,
                queue_name=spec.physical_name(prefix),
                visibility_timeout=Duration.seconds(config.visibility_timeout_seconds(config.function(spec.consumer))),
                max_receive_count=config.max_receive_count,
            )
            for key, spec in QUEUES.items()
        }
        table = IdempotencyTable(self, "Idempotency", table_name=idempotency_table_name(prefix)).table

        database_secret = secretsmanager.Secret.from_secret_complete_arn(
            self, "DatabaseSecret", config.database_secret_arn
        )
        redis_secret = secretsmanager.Secret.from_secret_complete_arn(self, "RedisSecret", config.redis_secret_arn)
        stores: dict[EnvVar | str, object] = {
            EnvVar.DATABASE_SECRET_ARN: database_secret.secret_arn,
            EnvVar.REDIS_SECRET_ARN: redis_secret.secret_arn,
        }

        network = FunctionNetwork(self, "Network", config=config.vpc) if config.vpc else None
        functions: dict[FunctionKey, JobFunction] = {}
        for key, spec in FUNCTIONS.items():
            job = JobFunction(
                self,
                spec.construct_id,
                function_dir=spec.directory,
                function_name=spec.physical_name(prefix),
                config=config.function(key),
                sources_with_concurrency=[(queues[q.key].queue, config.max_concurrency(q)) for q in spec.queues],
                environment=function_environment(
                    key,
                    queue_urls={k: q.queue.queue_url for k, q in queues.items()},
                    dead_letter_urls={k: q.dead_letter_queue.queue_url for k, q in queues.items()},
                    table_name=table.table_name,
                    settings={**stores, **config.function_settings()},
                ),
                powertools_version=POWERTOOLS_VERSION,
                log_retention_days=config.log_retention_days,
                tracing=config.tracing,
                network=network,
            )
            for consumed in spec.queues:  # poison goes to the dead-letter queue of the queue it came from
                queues[consumed.key].dead_letter_queue.grant_send_messages(job.function)
            database_secret.grant_read(job.function)
            redis_secret.grant_read(job.function)
            if config.database_iam_auth:
                job.function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["rds-db:connect"],
                        resources=[
                            self.format_arn(
                                service="rds-db",
                                resource="dbuser",
                                resource_name=config.database_iam_auth.connect_resource(),
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                        ],
                    )
                )
            if config.secrets_kms_key_arn:
                kms.Key.from_key_arn(self, f"{spec.construct_id}SecretsKey", config.secrets_kms_key_arn).grant_decrypt(
                    job.function
                )
            functions[key] = job
        if network:
            network.add_endpoints(
                Reach(
                    role_arns=[job.function.role.role_arn for job in functions.values() if job.function.role],
                    queue_arns=[
                        arn for q in queues.values() for arn in (q.queue.queue_arn, q.dead_letter_queue.queue_arn)
                    ],
                    table_arn=table.table_arn,
                    secret_arns=[database_secret.secret_arn, redis_secret.secret_arn],
                    tracing=config.tracing,
                )
            )
        for key, job in functions.items():
            if FUNCTIONS[key].idempotent:
                table.grant_read_write_data(job.function)
            for sent in FUNCTIONS[key].sends_to:
                queues[sent].queue.grant_send_messages(job.function)

        schedule_dead_letter = sqs.Queue(
            self,
            "SchedulesDeadLetter",
            queue_name=f"{prefix}-{SCHEDULES_DEAD_LETTER_NAME}",
            retention_period=DEAD_LETTER_RETENTION,
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            # Outlives the stack; a failed first create deletes it, or the retry hits "already exists".
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        acknowledge(schedule_dead_letter, "AwsSolutions-SQS3", "This is the schedules' dead-letter queue itself.")
        SweepSchedules(
            self,
            "Schedules",
            sweep_queue=queues[QueueKey.SWEEP].queue,
            dead_letter_queue=schedule_dead_letter,
            inbox_minutes=config.inbox_sweep_minutes,
            analytics_minutes=config.analytics_sweep_minutes,
            name_prefix=prefix,
        )
        Monitoring(
            self,
            "Monitoring",
            dashboard_name=prefix,
            queues=[
                WatchedQueue(spec.title, queues[key].queue, queues[key].dead_letter_queue)
                for key, spec in QUEUES.items()
            ],
            extra_dead_letter_queues=[WatchedQueue("Schedules", schedule_dead_letter, None)],
            functions={FUNCTIONS[key].title: job.function for key, job in functions.items()},
            inbox_service=FUNCTIONS[FunctionKey.INBOX].physical_name(prefix),
            sweeper_service=FUNCTIONS[FunctionKey.SWEEPER].physical_name(prefix),
            config=config.alarms,
        )

        outputs = {
            **{QUEUES[key].url_output: q.queue.queue_url for key, q in queues.items()},
            **{QUEUES[key].dead_letter_output: q.dead_letter_queue.queue_url for key, q in queues.items()},
            SCHEDULES_DEAD_LETTER_OUTPUT: schedule_dead_letter.queue_url,
            IDEMPOTENCY_TABLE_OUTPUT: table.table_name,
        }
        if network and network.own_group:  # `ports` mode: the stores' groups admit this one (docs/deploying.md, step 5)
            outputs[FUNCTIONS_SECURITY_GROUP_OUTPUT] = network.own_group.security_group_id
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)
