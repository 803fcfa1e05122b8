"""dlq peek: a dead-letter queue's messages and why they are there, without consuming them.

peek receives with VisibilityTimeout=0, so every message stays visible to everyone; each receive still counts
in the message's ApproximateReceiveCount, which is harmless on a dead-letter queue (it has no redrive policy
of its own). SQS samples its servers on a short poll, so a peek may not show every message of a large queue:
it reports how many it saw of the approximate depth.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from recount.commands.dead_letters.queues import DeadLetterSqs, dead_letter_and_source_urls, queue_key
from recount.commands.targets import Target
from recount.commands.usage import UsageError
from shared.adapters.sqs import REASON_ATTRIBUTE, SEND_BATCH_LIMIT, SOURCE_QUEUE_ATTRIBUTE
from shared.contracts.errors import PoisonMessageError
from shared.contracts.events import parse_envelope

# No recount-reason attribute: SQS moved it after maxReceiveCount receives (a transient failure that persisted).
MAX_RECEIVES_REASON = "maxReceiveCount reached, moved by SQS"


@dataclass(frozen=True)
class DeadLetter:
    messageId: str
    event: str | None
    clientId: str | None
    reason: str
    sourceQueue: str | None
    receiveCount: int
    ageSeconds: float
    valid: bool
    body: str


@dataclass(frozen=True)
class Peek:
    queue: str
    deadLetterQueueUrl: str
    approximateDepth: int
    messages: list[DeadLetter] = field(default_factory=list)


def peek(target: Target, name: str, *, limit: int = 10, max_receives: int | None = None) -> Peek:
    """Up to `limit` messages of the queue's dead-letter queue, each once, all left visible."""
    key = queue_key(name)
    if limit < 1:
        raise UsageError("--max must be at least 1")
    dlq_url, _ = dead_letter_and_source_urls(target, key)
    sqs = DeadLetterSqs(target)
    visible, in_flight = sqs.depth(dlq_url)
    wanted = min(limit, visible) if visible else limit  # the depth is approximate: 0 may not mean empty
    seen: dict[str, DeadLetter] = {}
    receives = quiet = 0
    max_receives = max_receives or 2 * (limit // SEND_BATCH_LIMIT + 1)
    # Each receive counts in the messages' receive counts: stop as soon as the wanted number is seen, or when
    # receives stop turning up messages not seen yet.
    while len(seen) < wanted and receives < max_receives and quiet < 2:
        receives += 1
        messages = sqs(
            "receive_message",
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(SEND_BATCH_LIMIT, limit),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        new = [message for message in messages if message["MessageId"] not in seen]
        quiet = 0 if new else quiet + 1
        for message in new[: limit - len(seen)]:
            seen[message["MessageId"]] = _dead_letter(message)
    return Peek(key, dlq_url, visible + in_flight, list(seen.values()))


def _dead_letter(message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("MessageAttributes", {})
    reason = attributes.get(REASON_ATTRIBUTE, {}).get("StringValue")
    body = message.get("Body", "")
    event = client_id = None
    try:
        envelope = parse_envelope(body)
        event, valid = envelope.name.value, True
        client_id = getattr(envelope.data, "clientId", None)
    except PoisonMessageError as poison:
        valid = False
        event, client_id = _loose_fields(body)
        reason = reason or poison.reason
    system = message.get("Attributes", {})
    sent_ms = int(system.get("SentTimestamp", "0"))
    return DeadLetter(
        message["MessageId"],
        event,
        client_id,
        reason or MAX_RECEIVES_REASON,
        attributes.get(SOURCE_QUEUE_ATTRIBUTE, {}).get("StringValue"),
        int(system.get("ApproximateReceiveCount", "0")),
        round(max(0.0, time.time() - sent_ms / 1000), 1) if sent_ms else 0.0,
        valid,
        body,
    )


def _loose_fields(body: str) -> tuple[str | None, str | None]:
    """Whatever name and clientId an invalid body carries, for display only."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    data = raw.get("data")
    client_id = data.get("clientId") if isinstance(data, dict) else None
    name = raw.get("name")
    return (str(name)[:80] if name is not None else None, str(client_id)[:80] if client_id is not None else None)
