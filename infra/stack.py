"""The recount stack: composes queues, functions, schedules, the idempotency table and monitoring."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import FunctionConfig, StageConfig
from infra.idempotency_table import IdempotencyTable
from infra.job_function import JobFunction
from infra.monitoring import Monitoring, WatchedQueue
from infra.nag import acknowledge
from infra.queues import DEAD_LETTER_RETENTION, QueueWithDeadLetter
from infra.schedules import SweepSchedules
from shared.contracts.settings import EnvVar


class RecountStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, config: StageConfig, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        prefix = f"recount-{stage}"

        def queue(construct_id: str, name: str, timeout_seconds: int) -> QueueWithDeadLetter:
            visibility = Duration.seconds(timeout_seconds * config.visibility_timeout_factor)
            return QueueWithDeadLetter(
                self,
                construct_id,
                queue_name=f"{prefix}-{name}",
                visibility_timeout=visibility,
                max_receive_count=config.max_receive_count,
            )

        counts = queue("CountsQueue", "counts", config.inbox.timeout_seconds)
        counts_high = queue("CountsHighQueue", "counts-high", config.inbox.timeout_seconds)
        analytics = queue("AnalyticsQueue", "analytics", config.analytics.timeout_seconds)
        sweep = queue("SweepQueue", "sweep", config.sweeper.timeout_seconds)
        table = IdempotencyTable(self, "Idempotency", table_name=f"{prefix}-idempotency").table

        database_secret = secretsmanager.Secret.from_secret_complete_arn(
            self, "DatabaseSecret", config.database_secret_arn
        )
        redis_secret = secretsmanager.Secret.from_secret_complete_arn(self, "RedisSecret", config.redis_secret_arn)
        common = {
            EnvVar.DATABASE_SECRET_ARN: database_secret.secret_arn,
            EnvVar.REDIS_SECRET_ARN: redis_secret.secret_arn,
            EnvVar.IDEMPOTENCY_TABLE_NAME: table.table_name,
            EnvVar.IDEMPOTENCY_TTL_SECONDS: config.idempotency_ttl_seconds,
            EnvVar.COUNTS_QUEUE_URL: counts.queue.queue_url,
            EnvVar.COUNTS_HIGH_QUEUE_URL: counts_high.queue.queue_url,
            EnvVar.ANALYTICS_QUEUE_URL: analytics.queue.queue_url,
            EnvVar.SWEEP_QUEUE_URL: sweep.queue.queue_url,
            EnvVar.MAX_RECEIVE_COUNT: config.max_receive_count,
            EnvVar.ANALYTICS_AGGREGATES_ENABLED: str(config.analytics_enabled).lower(),
            EnvVar.ANALYTICS_WINDOW_DAYS: config.analytics_window_days,
            EnvVar.TIME_BUDGET_MARGIN_MS: config.time_budget_margin_ms,
            "POWERTOOLS_METRICS_NAMESPACE": "recount",
        }

        def function(
            construct_id: str,
            directory: str,
            name: str,
            function_config: FunctionConfig,
            sources: list[tuple[QueueWithDeadLetter, int]],
            dead_letter: QueueWithDeadLetter,
        ) -> JobFunction:
            environment = {str(k): str(v) for k, v in common.items()}
            environment[str(EnvVar.DEAD_LETTER_QUEUE_URL)] = dead_letter.dead_letter_queue.queue_url
            job = JobFunction(
                self,
                construct_id,
                function_dir=directory,
                function_name=f"{prefix}-{name}",
                config=function_config,
                sources_with_concurrency=[(q.queue, c) for q, c in sources],
                environment=environment,
                powertools_version=config.powertools_version,
                log_retention_days=config.log_retention_days,
            )
            dead_letter.dead_letter_queue.grant_send_messages(job.function)
            database_secret.grant_read(job.function)
            redis_secret.grant_read(job.function)
            if config.secrets_kms_key_arn:
                kms.Key.from_key_arn(self, f"{construct_id}SecretsKey", config.secrets_kms_key_arn).grant_decrypt(
                    job.function
                )
            return job

        inbox = function(
            "InboxCountsFunction",
            "inbox_counts_recompute",
            "inbox-counts",
            config.inbox,
            [(counts, config.inbox.max_concurrency), (counts_high, config.counts_high_max_concurrency)],
            counts,
        )
        counts_high.dead_letter_queue.grant_send_messages(inbox.function)
        table.grant_read_write_data(inbox.function)
        analytics_fn = function(
            "AnalyticsFunction",
            "analytics_recompute",
            "analytics",
            config.analytics,
            [(analytics, config.analytics.max_concurrency)],
            analytics,
        )
        table.grant_read_write_data(analytics_fn.function)
        sweeper = function(
            "SweeperFunction", "sweeper", "sweeper", config.sweeper, [(sweep, config.sweeper.max_concurrency)], sweep
        )
        for target in (counts, counts_high, analytics):
            target.queue.grant_send_messages(sweeper.function)

        schedule_dead_letter = sqs.Queue(
            self,
            "SchedulesDeadLetter",
            queue_name=f"{prefix}-schedules-dlq",
            retention_period=DEAD_LETTER_RETENTION,
            enforce_ssl=True,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(schedule_dead_letter, "AwsSolutions-SQS3", "This is the schedules' dead-letter queue itself.")
        SweepSchedules(
            self,
            "Schedules",
            sweep_queue=sweep.queue,
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
                WatchedQueue("Counts", counts.queue, counts.dead_letter_queue),
                WatchedQueue("CountsHigh", counts_high.queue, counts_high.dead_letter_queue),
                WatchedQueue("Analytics", analytics.queue, analytics.dead_letter_queue),
                WatchedQueue("Sweep", sweep.queue, sweep.dead_letter_queue),
            ],
            extra_dead_letter_queues=[WatchedQueue("Schedules", schedule_dead_letter, None)],
            functions={"InboxCounts": inbox.function, "Analytics": analytics_fn.function, "Sweeper": sweeper.function},
            inbox_service=f"{prefix}-inbox-counts",
            sweeper_service=f"{prefix}-sweeper",
            config=config.alarms,
        )

        outputs = {
            "CountsQueueUrl": counts.queue.queue_url,
            "CountsHighQueueUrl": counts_high.queue.queue_url,
            "AnalyticsQueueUrl": analytics.queue.queue_url,
            "SweepQueueUrl": sweep.queue.queue_url,
            "CountsDeadLetterQueueUrl": counts.dead_letter_queue.queue_url,
            "CountsHighDeadLetterQueueUrl": counts_high.dead_letter_queue.queue_url,
            "AnalyticsDeadLetterQueueUrl": analytics.dead_letter_queue.queue_url,
            "SweepDeadLetterQueueUrl": sweep.dead_letter_queue.queue_url,
            "SchedulesDeadLetterQueueUrl": schedule_dead_letter.queue_url,
            "IdempotencyTableName": table.table_name,
        }
        for output_id, value in outputs.items():
            CfnOutput(self, output_id, value=value)
