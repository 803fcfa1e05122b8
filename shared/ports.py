"""The ports: what the domain and the consumer need from the outside world, as Protocols.

shared/adapters/ implements them over pg8000, redis-py and boto3 (translating driver errors into
shared.contracts.errors); tests/unit/fakes.py implements them in memory, so the consumer's decisions are
tested without a server. The domain receives them; it never imports a driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from shared.contracts.keys import JobName
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, SweepSettings
from shared.contracts.status import StatusBlob

Row = dict[str, Any]


class Database(Protocol):
    """PostgreSQL: one session, statements run in it (BEGIN and COMMIT are statements too)."""

    def run(self, sql: str, **params: Any) -> list[Row]: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class SloMiss(NamedTuple):
    """A member of the analytics SLO-miss set, with its score as the server's text (compared, never parsed)."""

    member: str
    score: str


class VersionStore(Protocol):
    """Redis: the cache versions the app keys its reads on, the job status blobs, the analytics SLO misses."""

    def write_status(self, blob: StatusBlob) -> None: ...

    def publish(self, blob: StatusBlob, change_stamp: str | None) -> int:
        """Bump the version once per change stamp (none: no bump) and write the status; the version now."""
        ...

    def republish(self, job: JobName, stamps: dict[str, str]) -> list[str]:
        """For each workspace whose version Redis lost (missing, or older than its committed change stamp), the
        bump of that stamp; the workspaces republished."""
        ...

    def reconcile_cursor(self, job: JobName) -> str: ...

    def set_reconcile_cursor(self, job: JobName, after: str) -> None: ...

    def slo_misses(self, limit: int) -> list[SloMiss]: ...

    def remove_slo_misses(self, misses: list[SloMiss]) -> int:
        """Remove the members whose score is still the one read; how many were removed."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OutgoingMessage:
    body: str
    delay_seconds: int = 0
    attributes: dict[str, str] | None = None


class QueueSender(Protocol):
    """SQS: sends, and the visibility of a received message."""

    def send(self, queue_url: str, message: OutgoingMessage) -> str: ...

    def send_batch(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> list[str]: ...

    def change_visibility(self, queue_url: str, receipt_handle: str, seconds: int) -> None: ...


class Idempotency(Protocol):
    """DynamoDB through Powertools: run `work` once per key; a key in progress elsewhere raises BusyError."""

    def register_lambda_context(self, context: Any) -> None: ...

    def run_once(self, key: str, work: Callable[[], OutcomeRecord]) -> tuple[OutcomeRecord, bool]:
        """(the result, whether it was replayed from an earlier run)."""
        ...


class Clients(Protocol):
    """What a job and a consumer are given: the four ports and the settings they act on."""

    recompute: RecomputeSettings
    queues: QueueSettings
    function: FunctionSettings
    sweep: SweepSettings

    @property
    def db(self) -> Database: ...

    @property
    def versions(self) -> VersionStore: ...

    @property
    def sqs(self) -> QueueSender: ...

    @property
    def idempotency(self) -> Idempotency: ...
