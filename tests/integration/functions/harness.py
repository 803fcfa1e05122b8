"""Drive the real handlers with messages really sent to and received from moto's SQS.

`LambdaPoller.poll(queue)` receives a batch as Lambda's event source does (attributes included),
calls the handler, and deletes the records the handler did not report as failures.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError

from recount.local.event_source import LocalContext, sqs_record
from recount.local.provision import create_idempotency_table
from shared.adapters.sqs import QueueClient
from shared.contracts.settings import EnvVar, QueueSettings
from shared.ports import OutgoingMessage
from shared.topology import QUEUES, FunctionKey, QueueKey, function_environment, idempotency_table_name
from shared.wiring.clients import EnvironmentClients, Given
from tests.unit.fakes import FakeLambdaContext

PREFIX = "recount"
TABLE = idempotency_table_name(PREFIX)


class RecordingQueueClient(QueueClient):
    """The real adapter (moto behind it), keeping a list of the calls it made for assertions."""

    def __init__(self) -> None:
        super().__init__(limits=QueueSettings().aws_limits)  # the environment's, as the function's own would be
        self.log: list[tuple[str, dict[str, Any]]] = []

    def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        self.log.append((operation, kwargs))
        return super()._call(operation, what, **kwargs)

    def visibility_changes(self) -> list[int]:
        return [kwargs["VisibilityTimeout"] for op, kwargs in self.log if op == "change_message_visibility"]


@dataclass
class Queue:
    name: str
    url: str
    arn: str
    dlq_url: str


@dataclass
class AwsFixture:
    sqs: Any
    dynamodb: Any
    queues: dict[str, Queue]
    table_name: str
    max_receive_count: int
    handed_out: dict[str, list[str]] = field(default_factory=dict)  # queue -> receipt handles received

    def send(self, queue: str, body: str | dict[str, Any], **kwargs: Any) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        return str(self.sqs.send_message(QueueUrl=self.queues[queue].url, MessageBody=text, **kwargs)["MessageId"])

    def receive_event(self, queue: str, max_messages: int = 10) -> dict[str, Any]:
        """One Lambda SQS event from what the queue hands out now."""
        q = self.queues[queue]
        response = self.sqs.receive_message(
            QueueUrl=q.url, MaxNumberOfMessages=max_messages, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        records = [sqs_record(m, q.arn) for m in response.get("Messages", [])]
        self.handed_out.setdefault(queue, []).extend(record["receiptHandle"] for record in records)
        return {"Records": records}

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message now visible in a queue (consumed), with attributes."""
        messages: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            )
            batch = response.get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            messages.extend(batch)

    def depth(self, queue_url: str) -> tuple[int, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def make_visible(self, queue: str) -> None:
        """Fast-forward the backoff: make in-flight messages visible again (as if their delay passed).

        Every receipt handle `receive_event` handed out for `queue` gets visibility 0; handles of messages
        already deleted (or moved to the dead-letter queue) are ignored.
        """
        for handle in self.handed_out.pop(queue, []):
            with contextlib.suppress(ClientError):
                self.sqs.change_message_visibility(
                    QueueUrl=self.queues[queue].url, ReceiptHandle=handle, VisibilityTimeout=0
                )

    def delayed(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"])


@dataclass
class FunctionUnderTest:
    module: ModuleType
    aws: AwsFixture
    sqs: RecordingQueueClient = field(default_factory=RecordingQueueClient)

    def __post_init__(self) -> None:
        # The handler's clients, made again with the recording sender given (the same moto behind it).
        self.module.consumer.clients = EnvironmentClients(given=Given(sqs=self.sqs))

    @property
    def clients(self) -> Any:
        return self.module.consumer.clients

    def invoke(self, event: dict[str, Any], context: FakeLambdaContext | LocalContext | None = None) -> dict[str, Any]:
        return dict(self.module.lambda_handler(event, context or FakeLambdaContext()))

    def poll(self, queue: str, context: FakeLambdaContext | LocalContext | None = None) -> dict[str, Any]:
        """Receive, invoke, and delete the successes, as Lambda's event source does."""
        event = self.aws.receive_event(queue)
        response = self.invoke(event, context)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.aws.sqs.delete_message(QueueUrl=self.aws.queues[queue].url, ReceiptHandle=record["receiptHandle"])
        return {"event": event, "failed": failed}


class CurrentStdout:
    """A stream that writes to sys.stdout as it is at each write (so a capture set up later still sees it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass
class Telemetry:
    """What the functions printed to stdout (read through capsys): Powertools JSON logs and EMF records."""

    capsys: Any
    text: str = ""

    def records(self) -> list[dict[str, Any]]:
        self.text += self.capsys.readouterr().out
        records = []
        for line in self.text.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def logs(self, level: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record.get("level") == level]

    def metric_values(self, name: str) -> list[float]:
        values: list[float] = []
        for record in self.records():
            directives = record.get("_aws", {}).get("CloudWatchMetrics", [])
            if directives and name in {metric["Name"] for metric in directives[0]["Metrics"]}:
                value = record[name]
                values.extend(value if isinstance(value, list) else [value])
        return values

    def metric(self, name: str) -> float:
        """The sum of a metric's values over every EMF record printed so far (0 if never emitted)."""
        return sum(self.metric_values(name))


def load_handler(name: str) -> ModuleType:
    """Import (or re-import) a handler module so it reads the environment the test set."""
    module_name = f"functions.{name}.handler"
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


def send_events(client: QueueClient, url: str, bodies: list[str]) -> None:
    client.send_batch(url, [OutgoingMessage(body) for body in bodies])


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    create_idempotency_table(dynamodb, name)


def create_queues(sqs: Any, max_receive_count: int) -> dict[str, Queue]:
    """recount's queues (shared.topology), each with its dead-letter queue and redrive policy."""
    queues = {}
    for key, spec in QUEUES.items():
        dlq_url = sqs.create_queue(QueueName=spec.dead_letter_name(PREFIX))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        name = spec.physical_name(PREFIX)
        url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
                ),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[key.value] = Queue(name, url, arn, dlq_url)
    return queues


def environment(
    aws: AwsFixture,
    function: FunctionKey,
    database_url: str,
    redis_url: str,
    settings: dict[EnvVar | str, object],
) -> dict[str, str]:
    """A function's environment as the stack builds it (shared.topology), over these queues and stores."""
    return function_environment(
        function,
        queue_urls={QueueKey(key): queue.url for key, queue in aws.queues.items()},
        dead_letter_urls={QueueKey(key): queue.dlq_url for key, queue in aws.queues.items()},
        table_name=aws.table_name,
        settings={
            EnvVar.DATABASE_URL: database_url,
            EnvVar.REDIS_URL: redis_url,
            EnvVar.MAX_RECEIVE_COUNT: aws.max_receive_count,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "recount-test",
            **settings,
        },
    )


class FailoverAtCommit:
    """The function's own database session; right after its COMMIT returns, the Redis endpoint fails over."""

    def __init__(self, inner: Any, failover: Any) -> None:
        self.inner, self.failover, self.armed = inner, failover, True

    def run(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.inner.run(sql, **params)
        if sql == "COMMIT" and self.armed:
            self.armed = False
            self.failover()
        return rows

    def rollback(self) -> None:
        self.inner.rollback()

    def close(self) -> None:
        self.inner.close()
