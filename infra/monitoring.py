"""One dashboard and the alarms: queues, dead-letter queues, functions and recount's own EMF metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config_functions import AlarmConfig
from shared.contracts.metrics import METRICS_NAMESPACE, Metric

PERIOD = Duration.minutes(1)


@dataclass(frozen=True)
class WatchedQueue:
    label: str
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue | None


def emf(metric: Metric, service: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """A recount EMF metric as Powertools emits it (namespace recount, dimension service)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric.value,
        dimensions_map={"service": service},
        statistic=statistic,
        period=PERIOD,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        queues: list[WatchedQueue],
        extra_dead_letter_queues: list[WatchedQueue],
        functions: dict[str, lambda_.Function],
        inbox_service: str,
        sweeper_service: str,
        config: AlarmConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self,
            "AlarmTopicKey",
            enable_key_rotation=True,
            description="Encrypts the recount alarm topic; CloudWatch may use it to publish",
            # It encrypts only notifications in flight: a key kept after the stack (CDK's default) only bills.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        if config.email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.email))
        action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            alarm_id: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            description: str,
            *,
            comparison: cloudwatch.ComparisonOperator,
            notify_ok: bool,
            periods: int = 1,
            datapoints: int | None = None,
        ) -> None:
            created = cloudwatch.Alarm(
                self,
                alarm_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=datapoints or periods,
                comparison_operator=comparison,
                alarm_description=description,
                # Every metric here is absent only when nothing happens (an idle queue, no recompute, no
                # invocation): absence is good news, and a breach always comes with datapoints of its own.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            if notify_ok:
                created.add_ok_action(action)
            self.alarms.append(created)

        dead_letters = [q for q in queues if q.dead_letter_queue] + extra_dead_letter_queues
        for watched in queues:
            alarm(
                f"{watched.label}BacklogAge",
                watched.queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
                config.oldest_message_age_seconds,
                f"The oldest message on {watched.label} is older than {config.oldest_message_age_seconds} s: "
                "consumers are behind or failing. See docs/operating.md, Alarms.",
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                notify_ok=True,  # a backlog drains by itself: on-call learns from OK that it is over
                periods=3,
            )
        for watched in dead_letters:
            dlq = watched.dead_letter_queue or watched.queue
            alarm(
                f"{watched.label}DeadLetters",
                dlq.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                0,
                f"A message is in the {watched.label} dead-letter queue. Inspect with `python -m recount dlq peek`.",
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                notify_ok=False,  # only an operator empties a dead-letter queue (redrive, purge): they know
            )
        alarm(
            "FreshnessP95",
            emf(Metric.FRESHNESS_LAG, inbox_service, "p95"),
            config.freshness_p95_ms,
            f"Dirty-to-fresh p95 is over {config.freshness_p95_ms} ms.",
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            notify_ok=True,  # slowness passes by itself: on-call learns from OK that it is over
            # 3 slow minutes of the last 5: one slow recompute in a quiet minute does not page, while a
            # breach on light traffic (a recompute every other minute) still does.
            periods=5,
            datapoints=3,
        )
        for label, function in functions.items():
            alarm(
                f"{label}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                config.function_errors,
                f"The {label} function reported {config.function_errors} or more errors "
                "(invocations that raised) in a minute.",
                # Lambda publishes Errors=0 for every clean invocation: at least the threshold, never 0.
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                notify_ok=False,  # an error is an event, not a state: its OK a minute later says nothing
            )

        # enforce_ssl gives the topic a policy of its own, holding only a Deny, which replaces SNS's default one:
        # without this Allow, CloudWatch cannot publish ("not authorized to perform SNS:Publish", seen only in
        # each alarm's history). Scoped to this account and these alarms.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnLike": {"aws:SourceArn": [created.alarm_arn for created in self.alarms]},
                },
            )
        )

        def queue_widget(title: str, make: str) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                width=12,
                left=[getattr(w.queue, make)(period=PERIOD, statistic="Maximum", label=w.label) for w in queues],
            )

        widgets: list[list[cloudwatch.IWidget]] = [
            [
                queue_widget("Queue depth (visible)", "metric_approximate_number_of_messages_visible"),
                queue_widget("Age of oldest message (s)", "metric_approximate_age_of_oldest_message"),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Dead-letter queues (messages)",
                    width=12,
                    left=[
                        (w.dead_letter_queue or w.queue).metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label=w.label
                        )
                        for w in dead_letters
                    ],
                ),
                cloudwatch.GraphWidget(
                    title="Freshness lag (ms)",
                    width=12,
                    left=[
                        emf(Metric.FRESHNESS_LAG, inbox_service, "p50").with_(label="p50"),
                        emf(Metric.FRESHNESS_LAG, inbox_service, "p95").with_(label="p95"),
                        emf(Metric.FRESHNESS_LAG, inbox_service, "Maximum").with_(label="max"),
                    ],
                    left_annotations=[cloudwatch.HorizontalAnnotation(value=config.freshness_p95_ms, label="SLO")],
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Function errors and throttles",
                    width=12,
                    left=[
                        m
                        for label, f in functions.items()
                        for m in (
                            f.metric_errors(period=PERIOD, statistic="Sum", label=f"{label} errors"),
                            f.metric_throttles(period=PERIOD, statistic="Sum", label=f"{label} throttles"),
                        )
                    ],
                ),
                cloudwatch.GraphWidget(
                    title="Function duration p95 (ms) and concurrency",
                    width=12,
                    left=[
                        f.metric_duration(period=PERIOD, statistic="p95", label=f"{label} p95")
                        for label, f in functions.items()
                    ],
                    right=[
                        f.metric(
                            "ConcurrentExecutions", period=PERIOD, statistic="Maximum", label=f"{label} concurrency"
                        )
                        for label, f in functions.items()
                    ],
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Jobs",
                    width=12,
                    left=[
                        emf(metric, inbox_service).with_(label=metric.value)
                        for metric in (
                            Metric.JOBS_SUCCEEDED,
                            Metric.JOBS_FAILED,
                            Metric.JOBS_DEAD_LETTERED,
                            Metric.JOBS_SKIPPED_DUPLICATE,
                            Metric.JOBS_SKIPPED_COALESCED,
                            Metric.JOBS_SKIPPED_CLEAN,
                            Metric.JOBS_BUSY,
                            Metric.JOBS_RETRIED,
                        )
                    ],
                ),
                cloudwatch.GraphWidget(
                    title="Recompute duration (ms)",
                    width=12,
                    left=[
                        emf(Metric.RECOMPUTE_DURATION, inbox_service, "p50").with_(label="p50"),
                        emf(Metric.RECOMPUTE_DURATION, inbox_service, "p95").with_(label="p95"),
                    ],
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Dirty backlog (workspaces) and oldest dirty age (s)",
                    width=12,
                    left=[
                        emf(Metric.DIRTY_BACKLOG, sweeper_service, "Maximum").with_(label="backlog"),
                        emf(Metric.INVALID_WORKSPACE_IDS, sweeper_service, "Sum").with_(
                            label="ids outside the clientId rule (skipped)"
                        ),
                        emf(Metric.LEAD_STATE_DRIFT, inbox_service, "Sum").with_(
                            label="leads changed with no capture (repaired)"
                        ),
                    ],
                    right=[emf(Metric.DIRTY_OLDEST_AGE, sweeper_service, "Maximum").with_(label="oldest age")],
                ),
                cloudwatch.AlarmStatusWidget(title="Alarms", width=12, alarms=self.alarms),
            ],
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name, widgets=widgets)
