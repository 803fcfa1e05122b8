"""B2: round trips per recompute job, counted by instrumenting the adapters and boto3's event hooks."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from recount.migrations import migrate
from shared.events import EventName, new_event, to_body
from shared.postgres import PostgresDatabase
from shared.settings import EnvVar


@dataclass(frozen=True)
class B2Result:
    postgres: int
    redis: int
    dynamodb: int
    sqs: int
    changed: bool


def measure(database_url: str, redis_url: str) -> B2Result:
    """One dirty event for a dirty workspace, through the real handler, moto in-process for AWS."""
    db = PostgresDatabase(database_url)
    migrate(db)
    client_id = "bench-io-" + os.urandom(4).hex()
    db.run('INSERT INTO "Client" (id, name, "userId", "updatedAt") VALUES (:id, \'io\', \'u\', now())', id=client_id)
    db.run('INSERT INTO "Lead" (id, "clientId", "updatedAt") VALUES (gen_random_uuid()::text, :id, now())',
           id=client_id)
    db.run('INSERT INTO "InboxCountsDirty" ("clientId") VALUES (:id)', id=client_id)
    saved = dict(os.environ)
    try:
        with mock_aws():
            os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                               "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_TRACE_DISABLED": "true",
                               "POWERTOOLS_METRICS_NAMESPACE": "recount"})
            os.environ.pop(EnvVar.AWS_ENDPOINT_URL, None)
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="bench-counts")["QueueUrl"]
            dlq = sqs.create_queue(QueueName="bench-counts-dlq")["QueueUrl"]
            boto3.client("dynamodb").create_table(
                TableName="bench-idempotency", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            os.environ.update({EnvVar.DATABASE_URL: database_url, EnvVar.REDIS_URL: redis_url,
                               EnvVar.IDEMPOTENCY_TABLE_NAME: "bench-idempotency", EnvVar.COUNTS_QUEUE_URL: url,
                               EnvVar.DEAD_LETTER_QUEUE_URL: dlq})
            sqs.send_message(QueueUrl=url, MessageBody=to_body(new_event(EventName.INBOX_COUNTS_DIRTY,
                                                                         client_id=client_id)))
            message = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            from functions.inbox_counts_recompute import handler

            runtime = handler.consumer.runtime
            aws_calls: Counter[str] = Counter()
            runtime.idempotency.persistence.client.meta.events.register(
                "before-call.*.*", lambda model, **_: aws_calls.update(["dynamodb"]))
            runtime.sqs.client.meta.events.register("before-call.*.*", lambda model, **_: aws_calls.update(["sqs"]))
            pg_before, redis_before = runtime.db.round_trips, runtime.cache.round_trips
            event = {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                                  "body": message["Body"], "attributes": message["Attributes"],
                                  "messageAttributes": {}, "md5OfBody": message["MD5OfBody"],
                                  "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"}]}
            response = handler.lambda_handler(event, _Context())
            assert response == {"batchItemFailures": []}, json.dumps(response)
            result = B2Result(postgres=runtime.db.round_trips - pg_before,
                              redis=runtime.cache.round_trips - redis_before,
                              dynamodb=aws_calls["dynamodb"], sqs=aws_calls["sqs"], changed=True)
            runtime.close()
            return result
    finally:
        os.environ.clear()
        os.environ.update(saved)
        db.close()


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def describe(result: B2Result) -> dict[str, Any]:
    return {"PostgreSQL": (result.postgres, 4), "Redis": (result.redis, 2), "DynamoDB": (result.dynamodb, 2),
            "SQS": (result.sqs, None)}
