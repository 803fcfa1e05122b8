"""In-memory implementations of shared.ports, for unit tests of the consumer's and the sweep's decisions.

They record what was asked of them; they never open a socket. The real adapters are proven against real
servers in tests/integration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contracts.keys import JobName, version_for_stamp
from shared.contracts.outcome import OutcomeRecord
from shared.contracts.settings import FunctionSettings, QueueSettings, RecomputeSettings, SweepSettings
from shared.contracts.status import StatusBlob
from shared.ports import OutgoingMessage, Row, SloMiss
from shared.queries import QUERIES_DIR, load_queries

ACCOUNT = "123456789012"
QUEUE_BASE = f"https://queues.unit.test/{ACCOUNT}"  # not what the ARN fallback builds: the lookup must match


def queue_url(name: str) -> str:
    return f"{QUEUE_BASE}/recount-{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:recount-{name}"


def _query_names() -> dict[str, str]:
    """SQL text -> "file:name", for every named block of shared/queries."""
    names = {}
    for path in QUERIES_DIR.glob("*.sql"):
        for name, sql in load_queries(path.stem).items():
            names[sql] = f"{path.stem}:{name}"
    return names


@dataclass
class FakeDatabase:
    """Answers each named query with the rows (or the error) given for it, keyed "file:name"; any other
    statement (BEGIN, COMMIT) returns no rows. `ran` lists what ran, by name."""

    answers: dict[str, list[Row] | Exception | Callable[[dict[str, Any]], list[Row]]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    rolled_back: int = 0
    _names: dict[str, str] = field(default_factory=_query_names)

    def run(self, sql: str, **params: Any) -> list[Row]:
        name = self._names.get(sql.strip(), sql.strip())
        self.ran.append(name)
        answer = self.answers.get(name, [])
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(params)
        return answer

    def rollback(self) -> None:
        self.rolled_back += 1

    def close(self) -> None:
        pass


@dataclass
class FakeVersionStore:
    statuses: list[StatusBlob] = field(default_factory=list)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    stamps: set[tuple[str, str, str]] = field(default_factory=set)
    misses: list[SloMiss] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    fail_with: Exception | None = None

    def write_status(self, blob: StatusBlob) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.statuses.append(blob)

    def publish(self, blob: StatusBlob, change_stamp: str | None) -> int:
        self.write_status(blob)
        key = (blob.jobName.value, blob.clientId)
        if change_stamp is not None and (*key, change_stamp) not in self.stamps:
            self.stamps.add((*key, change_stamp))
            current, derived = self.versions.get(key, 0), version_for_stamp(change_stamp)
            self.versions[key] = derived if current < derived else current + 1
        return self.versions.get(key, 0)

    def republish(self, job: JobName, stamps: dict[str, str]) -> list[str]:
        behind = [client_id for client_id, stamp in stamps.items() if (job.value, client_id, stamp) not in self.stamps]
        for client_id in behind:
            self.stamps.add((job.value, client_id, stamps[client_id]))
            self.versions[(job.value, client_id)] = version_for_stamp(stamps[client_id])
        return behind

    def reconcile_cursor(self, job: JobName) -> str:
        return self.cursors.get(job.value, "")

    def set_reconcile_cursor(self, job: JobName, after: str) -> None:
        self.cursors[job.value] = after

    def slo_misses(self, limit: int) -> list[SloMiss]:
        return self.misses[:limit]

    def remove_slo_misses(self, misses: list[SloMiss]) -> int:
        kept = [miss for miss in self.misses if miss not in misses]
        removed, self.misses = len(self.misses) - len(kept), kept
        return removed

    def close(self) -> None:
        pass


@dataclass
class FakeSender:
    sent: list[tuple[str, OutgoingMessage]] = field(default_factory=list)
    visibility: list[tuple[str, str, int]] = field(default_factory=list)  # (queue URL, receipt handle, seconds)
    fail_with: Exception | None = None  # raised by every send

    def send(self, queue_url: str, message: OutgoingMessage) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((queue_url, message))
        return f"sent-{len(self.sent)}"

    def send_batch(self, queue_url: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        return [self.send(queue_url, message) for message in messages]

    def change_visibility(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        self.visibility.append((queue_url, receipt_handle, seconds))

    def to(self, url: str) -> list[OutgoingMessage]:
        return [message for sent_to, message in self.sent if sent_to == url]


def outcome_record(client_id: str = "ws-1", **fields: Any) -> OutcomeRecord:
    """A recompute's stored result: a changed run of the inbox counts, with `fields` (snake_case) over it."""
    defaults: dict[str, Any] = {
        "client_id": client_id,
        "job": JobName.INBOX_COUNTS,
        "changed": True,
        "version": 1,
        "rows_written": 1,
        "rows_deleted": 0,
        "marker_cleared": False,
        "duration_ms": 0,
        "workspace_exists": True,
        "dirty_at": None,
        "change_stamp": None,
    }
    return OutcomeRecord.model_validate({**defaults, **fields})


@dataclass
class FakeIdempotency:
    results: dict[str, OutcomeRecord] = field(default_factory=dict)
    context: Any = None
    fail_with: Exception | None = None  # raised by every run_once

    def register_lambda_context(self, context: Any) -> None:
        self.context = context

    def run_once(self, key: str, work: Callable[[], OutcomeRecord]) -> tuple[OutcomeRecord, bool]:
        if self.fail_with is not None:
            raise self.fail_with
        if key in self.results:
            return self.results[key], True
        self.results[key] = work()
        return self.results[key], False


def _queue_settings() -> QueueSettings:
    return QueueSettings.model_validate(
        {
            "COUNTS_QUEUE_URL": queue_url("counts"),
            "COUNTS_HIGH_QUEUE_URL": queue_url("counts-high"),
            "ANALYTICS_QUEUE_URL": queue_url("analytics"),
            "SWEEP_QUEUE_URL": queue_url("sweep"),
            "COUNTS_DEAD_LETTER_QUEUE_URL": queue_url("counts-dlq"),
            "COUNTS_HIGH_DEAD_LETTER_QUEUE_URL": queue_url("counts-high-dlq"),
            "ANALYTICS_DEAD_LETTER_QUEUE_URL": queue_url("analytics-dlq"),
            "SWEEP_DEAD_LETTER_QUEUE_URL": queue_url("sweep-dlq"),
            "MAX_RECEIVE_COUNT": 3,
            "BACKOFF_BASE_SECONDS": 2,
            "BACKOFF_MAX_SECONDS": 120,
            "BUSY_DELAY_SECONDS": 1,
            "TIME_BUDGET_MARGIN_MS": 5000,
        }
    )


@dataclass
class FakeClients:
    """shared.ports.Clients over the fakes above, with settings as a test stage would set them."""

    db: FakeDatabase = field(default_factory=FakeDatabase)
    versions: FakeVersionStore = field(default_factory=FakeVersionStore)
    sqs: FakeSender = field(default_factory=FakeSender)
    idempotency: FakeIdempotency = field(default_factory=FakeIdempotency)
    recompute: RecomputeSettings = field(
        default_factory=lambda: RecomputeSettings.model_validate({"ANALYTICS_AGGREGATES_ENABLED": "true"})
    )
    queues: QueueSettings = field(default_factory=_queue_settings)
    function: FunctionSettings = field(
        default_factory=lambda: FunctionSettings.model_validate({"IDEMPOTENCY_TABLE_NAME": "recount-idempotency"})
    )
    sweep: SweepSettings = field(default_factory=SweepSettings)


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools reads, with a settable clock."""

    remaining_ms: int = 60_000
    function_name: str = "recount-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:recount-unit"
    aws_request_id: str = "req-unit"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def lambda_context(remaining_ms: int = 60_000) -> LambdaContext:
    return cast(LambdaContext, FakeLambdaContext(remaining_ms))


def sqs_event(*bodies: str, queue: str = "counts", receive_count: int = 1) -> dict[str, Any]:
    """An SQS event source batch, one record per body, as Lambda delivers it."""
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"rh{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1764670000000",
                    "SenderId": "unit",
                    "ApproximateFirstReceiveTimestamp": "1764670000000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn(queue),
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }
