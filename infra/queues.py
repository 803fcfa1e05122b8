"""A queue with its own dead-letter queue: encrypted, SSL only, redrive allowed back from the DLQ."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DEAD_LETTER_RETENTION = Duration.days(14)


class QueueWithDeadLetter(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_name: str,
        visibility_timeout: Duration,
        max_receive_count: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetter",
            queue_name=f"{queue_name}-dlq",
            retention_period=DEAD_LETTER_RETENTION,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Outlives the stack; a failed first create deletes it, or the retry hits "already exists".
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            visibility_timeout=visibility_timeout,
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
        )
        # Only this queue may redrive into its DLQ (StartMessageMoveTask moves messages back). The ARN is
        # built from the name, not referenced: a reference would make the two queues depend on each other.
        source_arn = Stack.of(self).format_arn(service="sqs", resource=queue_name)
        self.dead_letter_queue.node.default_child.add_property_override(  # type: ignore[union-attr]
            "RedriveAllowPolicy", {"redrivePermission": "byQueue", "sourceQueueArns": [source_arn]}
        )
