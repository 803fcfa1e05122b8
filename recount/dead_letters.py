"""dlq peek and dlq redrive: the dead-letter queues of a Target, inspected without consuming, moved back safely.

peek receives with VisibilityTimeout=0, so every message stays visible to everyone; each receive still counts
in the message's ApproximateReceiveCount, which is harmless on a dead-letter queue (it has no redrive policy
of its own). SQS samples its servers on a short poll, so a peek may not show every message of a large queue:
it reports how many it saw of the approximate depth.

redrive asks SQS to move the messages (StartMessageMoveTask, source the dead-letter queue, destination the
queue it serves). Where the endpoint does not implement that API (moto's server, other emulators), or with
--manual, it moves them itself, losing and duplicating nothing:

- a message is deleted from the dead-letter queue only after its send to the source queue succeeded; a send
  that fails leaves it where it was (it reappears when its visibility timeout ends);
- a message id already sent during this run is never sent again (one that comes back because its delete
  failed or its visibility expired is only deleted);
- only messages that were dead-lettered before the run began are moved, and never one this run sent: a
  message that fails again while the move runs stays in the dead-letter queue for the next redrive, instead
  of going round in circles. Those messages are made visible again at the end.

Bodies are sent unchanged, with their message attributes, `recount-reason` and `recount-source-queue`
included: a consumer ignores them, and a message that is dead-lettered again gets a fresh reason. The one
window left is a crash between a send and its delete: the message is then in both queues, and the functions'
idempotency (keyed by the event id in the body) makes the second delivery a no-op.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recount.operations import UsageError, prepare_aws
from recount.targets import Target
from shared import topology
from shared.adapters.sqs import REASON_ATTRIBUTE, SEND_BATCH_LIMIT, SOURCE_QUEUE_ATTRIBUTE, classify_aws_error
from shared.contracts.errors import PoisonMessageError, RecountError, TransientError
from shared.contracts.events import parse_envelope

# Error codes by which an endpoint says it does not know an API (HTTP 501 and bodies that are not AWS errors
# at all count too: moto's server answers a bare 500 page for an action it has not implemented).
_UNSUPPORTED_CODES = {
    "NotImplemented",
    "NotImplementedException",
    "InvalidAction",
    "UnknownOperation",
    "UnknownOperationException",
    "UnsupportedOperation.NotImplemented",
}
MOVE_VISIBILITY_SECONDS = 30  # how long a received message stays hidden while the manual move sends it
# No recount-reason attribute: SQS moved it after maxReceiveCount receives (a transient failure that persisted).
MAX_RECEIVES_REASON = "maxReceiveCount reached, moved by SQS"
TERMINAL_TASK_STATES = {"COMPLETED", "FAILED", "CANCELLED"}


def queue_key(name: str) -> str:
    """The queue an operator names, by key or by name (`counts_high` or `counts-high`)."""
    key = topology.queue_key(name)
    if key is None:
        raise UsageError(f"unknown queue {name!r}: choose one of {', '.join(topology.QUEUES)}")
    return key.value


class _Sqs:
    """The raw SQS calls these commands need (QueueClient has only what the functions need), each
    translated into a domain error."""

    def __init__(self, target: Target, *, attempts: int = 3) -> None:
        prepare_aws(target)
        self.client: Any = boto3.client(
            "sqs",
            endpoint_url=target.endpoint_url,
            region_name=target.region,
            config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=3, read_timeout=25),
        )

    def __call__(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise classify_aws_error(error, f"sqs {operation.replace('_', ' ')}") from error

    def depth(self, url: str) -> tuple[int, int]:
        attributes = self(
            "get_queue_attributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def arn(self, url: str) -> str:
        return str(self("get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _urls(target: Target, key: str) -> tuple[str, str]:
    if not target.dead_letter_urls:
        raise RecountError(
            f"target {target.name} has no dead-letter queue URLs: use --stack NAME, or run python -m recount local"
        )
    return target.dead_letter_url(key), target.queue_urls[key]


# ---------------------------------------------------------------------------------------------------- peek


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
    dlq_url, _ = _urls(target, key)
    sqs = _Sqs(target)
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
    except ValueError:
        return None, None
    if not isinstance(raw, dict):
        return None, None
    data = raw.get("data")
    client_id = data.get("clientId") if isinstance(data, dict) else None
    name = raw.get("name")
    return (str(name)[:80] if name is not None else None, str(client_id)[:80] if client_id is not None else None)


def render_peek(console: Console, result: Peek, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(result))
        return
    console.print(
        f"{result.queue} dead-letter queue: {result.approximateDepth} message(s); "
        f"showing {len(result.messages)}, left in the queue"
    )
    if not result.messages:
        return
    table = Table("message id", "age s", "receives", "event", "clientId", "reason")
    for message in result.messages:
        event = escape(message.event or "?") + ("" if message.valid else " [red](invalid)[/red]")
        table.add_row(
            message.messageId,
            f"{message.ageSeconds:.0f}",
            str(message.receiveCount),
            event,
            escape(message.clientId or "-"),
            escape(message.reason),
        )
    console.print(table)


# ------------------------------------------------------------------------------------------------- redrive


@dataclass
class Redrive:
    queue: str
    method: str  # "move-task" or "manual"
    moved: int = 0
    invalid: int = 0  # moved messages that can never succeed: the functions dead-letter them again at once
    duplicatesDeleted: int = 0  # messages seen again after their send, deleted without a second send
    leftForLater: int = 0  # dead-lettered again (or first) while the move ran: not moved by this run
    taskHandle: str | None = None
    taskStatus: str | None = None
    fallbackReason: str | None = None


def redrive(
    target: Target,
    name: str,
    *,
    manual: bool = False,
    wait: bool = True,
    timeout_s: float = 600,
    on_moved: Callable[[int], None] = lambda _: None,
) -> Redrive:
    key = queue_key(name)
    dlq_url, queue_url = _urls(target, key)
    fallback_reason = "--manual"
    if not manual:
        probe = _Sqs(target, attempts=1)  # an unsupported API must not be retried
        dlq_arn, queue_arn = probe.arn(dlq_url), probe.arn(queue_url)
        try:
            handle = str(
                probe.client.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn)["TaskHandle"]
            )
        except ClientError as error:
            if not _unsupported(error):
                raise classify_aws_error(error, "sqs start message move task") from error
            fallback_reason = f"the endpoint does not support StartMessageMoveTask ({_code(error)})"
        except BotoCoreError as error:
            raise classify_aws_error(error, "sqs start message move task") from error
        else:
            return _await_task(probe, key, dlq_arn, handle, wait, timeout_s)
    result = Redrive(key, "manual", fallbackReason=fallback_reason)
    _move(_Sqs(target), dlq_url, queue_url, result, on_moved)
    return result


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "?"))


def _unsupported(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = _code(error)
    return status == 501 or code in _UNSUPPORTED_CODES or (status >= 500 and code.isdigit())


def _await_task(sqs: _Sqs, key: str, dlq_arn: str, handle: str, wait: bool, timeout_s: float) -> Redrive:
    result = Redrive(key, "move-task", taskHandle=handle, taskStatus="RUNNING")
    deadline = time.monotonic() + timeout_s
    while wait:
        tasks = sqs("list_message_move_tasks", SourceArn=dlq_arn, MaxResults=1).get("Results", [])
        task = next((t for t in tasks if t.get("TaskHandle") in (None, handle)), tasks[0] if tasks else {})
        result.taskStatus = str(task.get("Status", "UNKNOWN"))
        result.moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if result.taskStatus in TERMINAL_TASK_STATES:
            if result.taskStatus != "COMPLETED":
                raise TransientError(
                    f"move task {result.taskStatus.lower()} after moving {result.moved}: "
                    f"{task.get('FailureReason', 'no reason given')}"
                )
            break
        if time.monotonic() > deadline:
            break  # still running: reported as such, SQS finishes it on its own
        time.sleep(1.0)
    return result


def _move(sqs: _Sqs, dlq_url: str, queue_url: str, result: Redrive, on_moved: Callable[[int], None]) -> None:
    started_ms = int(time.time() * 1000)
    moved_ids: set[str] = set()  # dead-letter message ids sent to the source queue by this run
    undeleted: set[str] = set()  # ... of which the delete failed: waited for, to be deleted when they reappear
    sent_ids: set[str] = set()  # ids of the copies this run sent: if one comes back, it is not moved again
    held: dict[str, str] = {}  # messages left for later, hidden by our receive: released at the end
    empty = 0
    give_up_at = 0.0
    try:
        while True:
            messages = sqs(
                "receive_message",
                QueueUrl=dlq_url,
                MaxNumberOfMessages=SEND_BATCH_LIMIT,
                VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=1 if empty else 0,
                AttributeNames=["SentTimestamp"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                empty += 1
                if undeleted:  # sent but still in the queue: wait until they are visible again, then delete
                    give_up_at = give_up_at or time.monotonic() + MOVE_VISIBILITY_SECONDS + 10
                    if time.monotonic() < give_up_at:
                        continue
                    raise TransientError(
                        f"moved {result.moved}, but {len(undeleted)} of them could not be deleted "
                        "from the dead-letter queue: delete them there before another redrive"
                    )
                # A short poll can come back empty while messages remain: believe it once the depth agrees.
                if sqs.depth(dlq_url)[0] == 0 or empty >= 3:
                    break
                continue
            empty = 0
            to_send, to_delete = [], []
            for message in messages:
                message_id = message["MessageId"]
                if message_id in moved_ids:
                    to_delete.append(message)  # sent already; its delete failed or its visibility expired
                    result.duplicatesDeleted += 1
                elif message_id in sent_ids or int(message["Attributes"]["SentTimestamp"]) >= started_ms:
                    if message_id not in held:
                        result.leftForLater += 1
                    held[message_id] = message["ReceiptHandle"]
                else:
                    to_send.append(message)
            failed: list[dict[str, Any]] = []
            if to_send:
                response = sqs(
                    "send_message_batch",
                    QueueUrl=queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "MessageBody": message["Body"],
                            **_attributes(message.get("MessageAttributes", {})),
                        }
                        for index, message in enumerate(to_send)
                    ],
                )
                successful = response.get("Successful", [])
                for success in successful:
                    message = to_send[int(success["Id"])]
                    moved_ids.add(message["MessageId"])
                    sent_ids.add(success["MessageId"])
                    to_delete.append(message)
                    result.invalid += not _valid(message["Body"])
                result.moved += len(successful)
                on_moved(len(successful))
                failed = response.get("Failed", [])
            if to_delete:
                undeleted.difference_update(message["MessageId"] for message in to_delete)
                undeleted.update(_delete(sqs, dlq_url, to_delete))
            if failed:  # nothing is lost: the unsent messages stay in the dead-letter queue
                raise TransientError(
                    f"sqs send batch: {len(failed)} message(s) not sent ({failed[0].get('Code')}: "
                    f"{failed[0].get('Message', '')}); moved {result.moved} before that, "
                    "run the redrive again for the rest"
                )
    finally:
        _release(sqs, dlq_url, held)


def _valid(body: str) -> bool:
    try:
        parse_envelope(body)
    except PoisonMessageError:
        return False
    return True


def _attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    kept = {}
    for name, value in attributes.items():
        entry = {"DataType": value["DataType"]}
        for field_name in ("StringValue", "BinaryValue"):
            if field_name in value:
                entry[field_name] = value[field_name]
        kept[name] = entry
    return {"MessageAttributes": kept} if kept else {}


def _delete(sqs: _Sqs, dlq_url: str, messages: list[dict[str, Any]]) -> set[str]:
    """Delete, retrying once; return the message ids still not deleted (they come back, and are deleted then)."""
    entries = {str(index): message for index, message in enumerate(messages)}
    for _ in range(2):
        failed = sqs(
            "delete_message_batch",
            QueueUrl=dlq_url,
            Entries=[{"Id": key, "ReceiptHandle": message["ReceiptHandle"]} for key, message in entries.items()],
        ).get("Failed", [])
        entries = {entry["Id"]: entries[entry["Id"]] for entry in failed}
        if not entries:
            break
    return {message["MessageId"] for message in entries.values()}


def _release(sqs: _Sqs, dlq_url: str, held: dict[str, str]) -> None:
    handles = list(held.values())
    for start in range(0, len(handles), SEND_BATCH_LIMIT):
        # If this fails they become visible anyway when their visibility timeout ends.
        with contextlib.suppress(RecountError):
            sqs(
                "change_message_visibility_batch",
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for index, handle in enumerate(handles[start : start + SEND_BATCH_LIMIT])
                ],
            )


def render_redrive(console: Console, result: Redrive) -> None:
    if result.method == "move-task":
        console.print(
            f"{result.queue}: move task {result.taskHandle} {(result.taskStatus or '').lower()}, "
            f"{result.moved} message(s) moved back to {result.queue}"
        )
        return
    console.print(
        f"{result.queue}: moved {result.moved} message(s) from the dead-letter queue back to "
        f"{result.queue} (manual move: {result.fallbackReason})"
    )
    if result.invalid:
        console.print(
            f"[yellow]{result.invalid} of them can never succeed (invalid): the functions will "
            "dead-letter them again[/yellow]"
        )
    if result.duplicatesDeleted:
        console.print(f"{result.duplicatesDeleted} message(s) seen again after their send were deleted, not resent")
    if result.leftForLater:
        console.print(
            f"{result.leftForLater} message(s) dead-lettered while the move ran were left for the next redrive"
        )
