"""dlq redrive: a dead-letter queue's messages moved back to the queue it serves, losing and duplicating nothing.

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from recount.commands.dead_letters.queues import DeadLetterSqs, dead_letter_and_source_urls, queue_key
from recount.commands.targets import Target
from shared.adapters.sqs import SEND_BATCH_LIMIT, classify_aws_error
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
TERMINAL_TASK_STATES = {"COMPLETED", "FAILED", "CANCELLED"}


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
    dlq_url, queue_url = dead_letter_and_source_urls(target, key)
    fallback_reason = "--manual"
    if not manual:
        probe = DeadLetterSqs(target, attempts=1)  # an unsupported API must not be retried
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
    _move(DeadLetterSqs(target), dlq_url, queue_url, result, on_moved)
    return result


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "?"))


def _unsupported(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = _code(error)
    return status == 501 or code in _UNSUPPORTED_CODES or (status >= 500 and code.isdigit())


def _await_task(sqs: DeadLetterSqs, key: str, dlq_arn: str, handle: str, wait: bool, timeout_s: float) -> Redrive:
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


def _move(sqs: DeadLetterSqs, dlq_url: str, queue_url: str, result: Redrive, on_moved: Callable[[int], None]) -> None:
    _ManualMove(sqs, dlq_url, queue_url, result, on_moved).run()


@dataclass
class _ManualMove:
    """One manual move: receive from the dead-letter queue, send what was dead-lettered before the run, delete
    what was sent, until the queue is drained; what it received but left for later is released at the end."""

    sqs: DeadLetterSqs
    dlq_url: str
    queue_url: str
    result: Redrive
    on_moved: Callable[[int], None]
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    moved_ids: set[str] = field(default_factory=set)  # dead-letter message ids sent to the source queue by this run
    undeleted: set[str] = field(default_factory=set)  # ... of which the delete failed: deleted when they reappear
    sent_ids: set[str] = field(default_factory=set)  # ids of the copies this run sent: one that comes back stays
    held: dict[str, str] = field(default_factory=dict)  # messages left for later, hidden by our receive
    give_up_at: float = 0.0  # when to stop waiting for the undeleted to reappear

    def run(self) -> None:
        empty = 0
        try:
            while True:
                messages = self._receive(wait=empty > 0)
                if not messages:
                    empty += 1
                    if self._drained(empty):
                        break
                    continue
                empty = 0
                to_send, to_delete = self._sort(messages)
                failed = self._send(to_send, to_delete) if to_send else []
                if to_delete:
                    self.undeleted.difference_update(message["MessageId"] for message in to_delete)
                    self.undeleted.update(_delete(self.sqs, self.dlq_url, to_delete))
                if failed:  # nothing is lost: the unsent messages stay in the dead-letter queue
                    raise TransientError(
                        f"sqs send batch: {len(failed)} message(s) not sent ({failed[0].get('Code')}: "
                        f"{failed[0].get('Message', '')}); moved {self.result.moved} before that, "
                        "run the redrive again for the rest"
                    )
        finally:
            _release(self.sqs, self.dlq_url, self.held)

    def _receive(self, *, wait: bool) -> list[dict[str, Any]]:
        return self.sqs(  # type: ignore[no-any-return]
            "receive_message",
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=SEND_BATCH_LIMIT,
            VisibilityTimeout=MOVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=1 if wait else 0,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _drained(self, empty: int) -> bool:
        """After an empty receive: whether the move is done; raises once the undeleted stop reappearing."""
        if self.undeleted:  # sent but still in the queue: wait until they are visible again, then delete
            self.give_up_at = self.give_up_at or time.monotonic() + MOVE_VISIBILITY_SECONDS + 10
            if time.monotonic() < self.give_up_at:
                return False
            raise TransientError(
                f"moved {self.result.moved}, but {len(self.undeleted)} of them could not be deleted "
                "from the dead-letter queue: delete them there before another redrive"
            )
        # A short poll can come back empty while messages remain: believe it once the depth agrees.
        return self.sqs.depth(self.dlq_url)[0] == 0 or empty >= 3

    def _sort(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(to send, to delete); a message dead-lettered during the run, or a copy it sent, is held instead."""
        to_send, to_delete = [], []
        for message in messages:
            message_id = message["MessageId"]
            if message_id in self.moved_ids:
                to_delete.append(message)  # sent already; its delete failed or its visibility expired
                self.result.duplicatesDeleted += 1
            elif message_id in self.sent_ids or int(message["Attributes"]["SentTimestamp"]) >= self.started_ms:
                if message_id not in self.held:
                    self.result.leftForLater += 1
                self.held[message_id] = message["ReceiptHandle"]
            else:
                to_send.append(message)
        return to_send, to_delete

    def _send(self, to_send: list[dict[str, Any]], to_delete: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch to the source queue; what was sent joins `to_delete`. Returns the failed entries."""
        response = self.sqs(
            "send_message_batch",
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(index), "MessageBody": message["Body"], **_attributes(message.get("MessageAttributes", {}))}
                for index, message in enumerate(to_send)
            ],
        )
        successful = response.get("Successful", [])
        for success in successful:
            message = to_send[int(success["Id"])]
            self.moved_ids.add(message["MessageId"])
            self.sent_ids.add(success["MessageId"])
            to_delete.append(message)
            self.result.invalid += not _valid(message["Body"])
        self.result.moved += len(successful)
        self.on_moved(len(successful))
        return response.get("Failed", [])  # type: ignore[no-any-return]


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


def _delete(sqs: DeadLetterSqs, dlq_url: str, messages: list[dict[str, Any]]) -> set[str]:
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


def _release(sqs: DeadLetterSqs, dlq_url: str, held: dict[str, str]) -> None:
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
