"""B3's inputs from the bench's moto: the functions' environment, and per round one real received message per
handler, each with work to do."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from recount.bench.b3_cold_start import FLOOR, PAUSED_FLOOR
from recount.local.event_source import sqs_record
from recount.local.provision import aws_client
from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.settings import EnvVar
from shared.topology import QUEUES


def function_environment(target: Any, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        EnvVar.DATABASE_URL: database_url,
        EnvVar.REDIS_URL: redis_url,
        EnvVar.IDEMPOTENCY_TABLE_NAME: target.idempotency_table,
        **{queue.dead_letter_url_variable: target.dead_letter_urls[queue.key.value] for queue in QUEUES.values()},
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "recount",
        **target.queue_environment(),
    }


def first_batch_events(db: PostgresDatabase, target: Any) -> Callable[[], dict[str, str]]:
    """Per round, one real received message per handler, each with work to do: a new dirty workspace for the
    inbox handler and one for each floor (which recomputes it as the handler does), a new event id for
    analytics (enabled in B3's environment) and for the sweep."""
    sqs = aws_client("sqs", target.endpoint_url)

    def dirty_workspace() -> str:
        client_id = f"b3-{uuid.uuid4().hex[:12]}"
        db.run(
            'INSERT INTO "Client" (id, name, "userId", "updatedAt") VALUES (:id, \'b3\', \'u\', now())', id=client_id
        )
        db.run('INSERT INTO "InboxCountsDirty" ("clientId") VALUES (:id)', id=client_id)
        return client_id

    def one_round() -> dict[str, str]:
        client_id, floor_id, paused_id = dirty_workspace(), dirty_workspace(), dirty_workspace()
        events = {}
        for handler, queue, event in (
            (FLOOR, "counts", new_event(EventName.INBOX_COUNTS_DIRTY, client_id=floor_id)),
            (PAUSED_FLOOR, "counts", new_event(EventName.INBOX_COUNTS_DIRTY, client_id=paused_id)),
            ("inbox_counts_recompute", "counts", new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id)),
            (
                "analytics_recompute",
                "analytics",
                new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id=client_id),
            ),
            ("sweeper", "sweep", new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule")),
        ):
            url = target.queue_urls[queue]
            sent = sqs.send_message(QueueUrl=url, MessageBody=to_body(event))["MessageId"]
            message = received(sqs, url, sent)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events[handler] = json.dumps({"Records": [sqs_record(message, arn)]})
        return events

    return one_round


def received(sqs: Any, url: str, message_id: str, tries: int = 50) -> dict[str, Any]:
    """The message just sent, received as Lambda's poller would. Any other message on the queue is deleted: the
    events an earlier round's sweep sent for its workspaces, which a batch would find already recomputed (a clean
    skip, no work: taken instead, they made some first batches cheaper than others)."""
    for _ in range(tries):
        messages = sqs.receive_message(
            QueueUrl=url, AttributeNames=["All"], MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", [])
        found: dict[str, Any] | None = next((m for m in messages if m["MessageId"] == message_id), None)
        for other in messages:
            if other is not found:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=other["ReceiptHandle"])
        if found is not None:
            return found
    raise RuntimeError(f"B3 did not receive the message it sent ({message_id}) in {tries} receives")
