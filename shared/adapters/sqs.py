"""SQS adapter: sends, visibility changes and dead-lettering; turns ClientError into domain errors."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared import deadline
from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.time_budget import DEFAULT_AWS_CALL_LIMITS, AwsCallLimits
from shared.ports import OutgoingMessage

SEND_BATCH_LIMIT = 10
SEND_BATCH_CONCURRENCY = 4  # batches in flight at once: SQS takes far more; moto's one-process server does not
REASON_ATTRIBUTE = "recount-reason"
SOURCE_QUEUE_ATTRIBUTE = "recount-source-queue"
_TRANSIENT_CODES = {
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "KmsThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "RequestTimeout",
}


def classify_aws_error(error: Exception, what: str) -> TransientError | PermanentError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = f"{what}: {code} {' '.join(str(error.response.get('Error', {}).get('Message', '')).split())}"
        if code in _TRANSIENT_CODES or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            return TransientError(message)
        return PermanentError(message)
    return TransientError(f"{what}: {' '.join(str(error).split())}")


class QueueClient:
    """One lazily created SQS client per execution environment."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        limits: AwsCallLimits = DEFAULT_AWS_CALL_LIMITS,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._limits = limits
        self._region_name = region_name
        self._client: Any = None
        self._counting = threading.Lock()
        self.calls = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(
                "sqs",
                endpoint_url=self._endpoint_url,
                region_name=self._region_name,
                config=Config(
                    retries={"mode": "standard", "total_max_attempts": self._limits.attempts},
                    connect_timeout=self._limits.connect_s,
                    read_timeout=self._limits.read_s,
                ),
            )
        return self._client

    def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        deadline.ensure(self._limits.bound_s, what)
        with self._counting:  # send_batch's threads count too
            self.calls += 1
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise classify_aws_error(error, what) from error

    def send(self, queue_url: str, message: OutgoingMessage) -> str:
        """Send one message; return its SQS message id."""
        response = self._call("send_message", "sqs send", QueueUrl=queue_url, **_entry(message))
        return str(response["MessageId"])

    def send_batch(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Send in batches of ten, up to SEND_BATCH_CONCURRENCY batches at once (a sweep's page is fifty); an
        entry that failed is retried once, then the call raises (after every batch has had its go). The ids
        come back in the messages' order."""
        chunks = [list(messages[i : i + SEND_BATCH_LIMIT]) for i in range(0, len(messages), SEND_BATCH_LIMIT)]
        if len(chunks) <= 1:
            return self._send_chunk(queue_url, chunks[0]) if chunks else []
        _ = self.client  # made once, here, before the threads share it (boto3 clients are thread-safe)
        with ThreadPoolExecutor(max_workers=min(SEND_BATCH_CONCURRENCY, len(chunks))) as pool:
            # Each batch runs in a copy of this context: the record's deadline (shared.deadline) applies there too.
            futures = [
                pool.submit(contextvars.copy_context().run, self._send_chunk, queue_url, chunk) for chunk in chunks
            ]
            return [message_id for future in futures for message_id in future.result()]

    def _send_chunk(self, queue_url: str, chunk: list[OutgoingMessage]) -> list[str]:
        pending = {str(index): message for index, message in enumerate(chunk)}
        sent: dict[str, str] = {}
        for _ in range(2):
            response = self._call(
                "send_message_batch",
                "sqs send batch",
                QueueUrl=queue_url,
                Entries=[{"Id": key, **_entry(message)} for key, message in pending.items()],
            )
            for success in response.get("Successful", []):
                sent[success["Id"]] = success["MessageId"]
                pending.pop(success["Id"], None)
            if not pending:
                return [sent[str(index)] for index in range(len(chunk))]
        failed = response.get("Failed", [{}])[0]
        raise TransientError(
            f"sqs send batch: {len(pending)} of {len(chunk)} entries failed "
            f"({failed.get('Code', '?')}: {failed.get('Message', '')})"
        )

    def change_visibility(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        self._call(
            "change_message_visibility",
            "sqs change visibility",
            QueueUrl=queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, 43_200)),
        )


def _entry(message: OutgoingMessage) -> dict[str, Any]:
    entry: dict[str, Any] = {"MessageBody": message.body, "DelaySeconds": max(0, min(message.delay_seconds, 900))}
    if message.attributes:
        entry["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": value[:1000] or "-"}
            for name, value in message.attributes.items()
        }
    return entry
