"""The queue topology, stated once: recount's queues and their dead-letter queues, which function consumes
which, where each function's poison goes, the stack's output names, and a function's environment.

infra/ builds the stack from it, the local runtime provisions moto from it, the operator CLI finds a stack's
queues by it, the functions map a record's queue back to its URL with it, and the tests build their fixtures
from it. No driver imports: infra/ reads this without loading Powertools or boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts.metrics import METRICS_NAMESPACE
from shared.contracts.powertools_env import METRICS_NAMESPACE_ENV
from shared.contracts.settings import EnvVar


class QueueKey(StrEnum):
    COUNTS = "counts"
    COUNTS_HIGH = "counts_high"
    ANALYTICS = "analytics"
    SWEEP = "sweep"


class FunctionKey(StrEnum):
    INBOX = "inbox"
    ANALYTICS = "analytics"
    SWEEPER = "sweeper"


@dataclass(frozen=True)
class Queue:
    key: QueueKey
    name: str  # after the stack's prefix: <prefix>-<name>, and its dead-letter queue <prefix>-<name>-dlq
    title: str  # the CamelCase stem of its construct id, its outputs and its dashboard label
    consumer: FunctionKey
    url_variable: EnvVar
    dead_letter_url_variable: EnvVar

    @property
    def construct_id(self) -> str:
        return f"{self.title}Queue"

    @property
    def url_output(self) -> str:
        return f"{self.title}QueueUrl"

    @property
    def dead_letter_output(self) -> str:
        return f"{self.title}DeadLetterQueueUrl"

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"

    def dead_letter_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}-dlq"


@dataclass(frozen=True)
class Function:
    key: FunctionKey
    directory: str  # functions/<directory>/handler.py
    name: str  # after the stack's prefix: <prefix>-<name>, also its Powertools service name
    title: str  # the CamelCase stem of its construct id and its dashboard label
    idempotent: bool = True  # runs each event once through the idempotency table (a sweep needs no record)
    sends_to: tuple[QueueKey, ...] = ()  # the queues it sends recomputes to (the sweeper's)

    @property
    def construct_id(self) -> str:
        return f"{self.title}Function"

    @property
    def handler_module(self) -> str:
        return f"functions.{self.directory}.handler"

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}"

    @property
    def queues(self) -> tuple[Queue, ...]:
        return tuple(queue for queue in QUEUES.values() if queue.consumer is self.key)


QUEUES: dict[QueueKey, Queue] = {
    queue.key: queue
    for queue in (
        Queue(
            QueueKey.COUNTS,
            "counts",
            "Counts",
            FunctionKey.INBOX,
            EnvVar.COUNTS_QUEUE_URL,
            EnvVar.COUNTS_DEAD_LETTER_QUEUE_URL,
        ),
        Queue(
            QueueKey.COUNTS_HIGH,
            "counts-high",
            "CountsHigh",
            FunctionKey.INBOX,
            EnvVar.COUNTS_HIGH_QUEUE_URL,
            EnvVar.COUNTS_HIGH_DEAD_LETTER_QUEUE_URL,
        ),
        Queue(
            QueueKey.ANALYTICS,
            "analytics",
            "Analytics",
            FunctionKey.ANALYTICS,
            EnvVar.ANALYTICS_QUEUE_URL,
            EnvVar.ANALYTICS_DEAD_LETTER_QUEUE_URL,
        ),
        Queue(
            QueueKey.SWEEP,
            "sweep",
            "Sweep",
            FunctionKey.SWEEPER,
            EnvVar.SWEEP_QUEUE_URL,
            EnvVar.SWEEP_DEAD_LETTER_QUEUE_URL,
        ),
    )
}
FUNCTIONS: dict[FunctionKey, Function] = {
    function.key: function
    for function in (
        Function(FunctionKey.INBOX, "inbox_counts_recompute", "inbox-counts", "InboxCounts"),
        Function(FunctionKey.ANALYTICS, "analytics_recompute", "analytics", "Analytics"),
        Function(
            FunctionKey.SWEEPER,
            "sweeper",
            "sweeper",
            "Sweeper",
            idempotent=False,
            sends_to=(QueueKey.COUNTS, QueueKey.COUNTS_HIGH, QueueKey.ANALYTICS),
        ),
    )
}

SCHEDULES_DEAD_LETTER_NAME = "schedules-dlq"
SCHEDULES_DEAD_LETTER_OUTPUT = "SchedulesDeadLetterQueueUrl"
IDEMPOTENCY_TABLE_OUTPUT = "IdempotencyTableName"
# Only in `ports` mode (recount makes the group): the database's, proxy's and cache's groups must admit it.
FUNCTIONS_SECURITY_GROUP_OUTPUT = "FunctionsSecurityGroupId"


def idempotency_table_name(prefix: str) -> str:
    return f"{prefix}-idempotency"


def queue_key(name: str) -> QueueKey | None:
    """The queue an operator names: its key (`counts_high`) or its name (`counts-high`); None if neither."""
    for queue in QUEUES.values():
        if name in (queue.key.value, queue.name):
            return queue.key
    return None


def function_environment(
    function: FunctionKey,
    *,
    queue_urls: Mapping[QueueKey, str],
    dead_letter_urls: Mapping[QueueKey, str],
    table_name: str,
    settings: Mapping[EnvVar | str, object],
) -> dict[str, str]:
    """A function's environment: every queue's URL (the sweeper sends to them), the dead-letter queue of each
    queue it consumes (poison goes to the one of the queue it came from), the
    idempotency table and the metrics namespace, plus `settings` (stores and stage settings, caller's own)."""
    environment: dict[str, object] = {
        **{queue.url_variable: queue_urls[queue.key] for queue in QUEUES.values()},
        **{queue.dead_letter_url_variable: dead_letter_urls[queue.key] for queue in FUNCTIONS[function].queues},
        EnvVar.IDEMPOTENCY_TABLE_NAME: table_name,
        METRICS_NAMESPACE_ENV: METRICS_NAMESPACE,
        **settings,
    }
    return {str(name): str(value) for name, value in environment.items()}
