"""Lambda's SQS event source, emulated: long polling, batch size and window, a cap on concurrent
invocations, a context with the remaining time, and partial batch responses (successes deleted, failures
left to the visibility the handler set). Redrive after maxReceiveCount is the queue's own (moto's server).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shared.telemetry import logger

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LocalContext:
    """What Powertools reads from Lambda's context, with a real deadline."""

    function_name: str
    timeout_s: float
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class ExecutionEnvironments:
    """A function's environments, made on demand up to its reserved concurrency, as Lambda makes them: one
    handler each, never two invocations at once in one. An environment whose handler is no longer `alive` (its
    process crashed or timed out) is dropped on release, and a new one is made when next needed."""

    def __init__(self, name: str, factory: Callable[[], Handler], reserved_concurrency: int) -> None:
        self.name = name
        self._factory = factory
        self._reserved = reserved_concurrency
        self._free: list[Handler] = []
        self._all: list[Handler] = []
        self._lock = threading.Condition()
        self.running = 0
        self.invocations = 0
        self.records = 0  # handed to the invocations, in all
        self.errors = 0
        self.last_error = ""
        self.replaced = 0

    @property
    def handlers(self) -> list[Handler]:
        with self._lock:
            return list(self._all)

    def acquire(self, stop: threading.Event, records: int = 1) -> Handler | None:
        """A free environment for an invocation of `records` records (made if none is free and the concurrency
        allows), waiting while all are busy; None once `stop` is set."""
        with self._lock:
            while not self._free and len(self._all) >= self._reserved:
                if stop.is_set():
                    return None
                self._lock.wait(0.2)
            self.running += 1
            self.invocations += 1
            self.records += records
            if self._free:
                return self._free.pop()
            handler = self._factory()
            self._all.append(handler)
            return handler

    def release(self, handler: Handler) -> None:
        with self._lock:
            if getattr(handler, "alive", True):
                self._free.append(handler)
            else:
                self._all.remove(handler)
                self.replaced += 1
            self.running -= 1
            self._lock.notify()

    def close(self) -> None:
        """Stop every environment that has a process (the pool is done with them)."""
        for handler in self.handlers:
            close = getattr(handler, "close", None)
            if close is not None:
                close()


@dataclass
class EventSource:
    """One queue feeding one function, at most `max_concurrency` batches in flight."""

    queue_url: str
    queue_arn: str
    environments: ExecutionEnvironments
    sqs: Any
    batch_size: int
    batching_window_s: float
    timeout_s: float
    max_concurrency: int
    poll_wait_s: int = 1
    _stop: threading.Event = field(default_factory=threading.Event)
    _slots: threading.Semaphore = field(init=False)
    _pool: ThreadPoolExecutor = field(init=False)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._slots = threading.Semaphore(self.max_concurrency)
        self._pool = ThreadPoolExecutor(
            max_workers=self.max_concurrency, thread_name_prefix=f"{self.environments.name}-invoke"
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name=f"{self.environments.name}-poller", daemon=True)
        self._thread.start()

    def stop(self, drain: bool = True) -> None:
        """Stop receiving; with drain, wait for the batches in flight to finish."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=drain)

    def _poll(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue  # at maximum concurrency: receive nothing, so nothing waits invisibly
            try:
                records = self._receive_batch()
            except Exception as error:  # the endpoint went away or hiccuped: back off, keep polling
                logger.warning("event source receive failed", extra={"error": str(error)})
                records = []
                time.sleep(0.5)
            if not records:
                self._slots.release()
                continue
            handler = self.environments.acquire(self._stop, len(records))
            if handler is None:
                self._slots.release()
                return
            self._pool.submit(self._invoke, handler, records)

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.batching_window_s
        wait = self.poll_wait_s
        while len(messages) < self.batch_size and not self._stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages.extend(response.get("Messages", []))
            if not messages or time.monotonic() >= deadline:
                break
            wait = 0  # inside the batching window: take what is there, then wait out the window
            if not response.get("Messages"):
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return [sqs_record(message, self.queue_arn) for message in messages]

    def _invoke(self, handler: Handler, records: list[dict[str, Any]]) -> None:
        try:
            context = LocalContext(self.environments.name, self.timeout_s)
            try:
                response = handler({"Records": records}, context)
            except Exception as error:  # an invocation error: Lambda deletes nothing, the batch comes back
                self.environments.errors += 1
                self.environments.last_error = str(error)
                logger.exception("invocation failed", extra={"function": self.environments.name, "error": str(error)})
                return
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
            done = [r for r in records if r["messageId"] not in failed]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(done[start : start + 10])
                    ],
                )
        finally:
            self.environments.release(handler)
            self._slots.release()


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as Lambda's event source hands it to a function, one record of its batch."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }
