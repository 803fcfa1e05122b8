"""The job status blob (docs/design.md §4): what the app and operators read about the last job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.contracts.keys import JobName


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class JobContext:
    """Where a job came from: copied into its status blob and its log lines."""

    request_id: str
    source: str
    message_id: str | None = None
    attempt: int = 1


class StatusBlob(BaseModel):
    """`job:v1:{clientId}:{jobName}`, JSON with a TTL."""

    model_config = ConfigDict(extra="forbid")

    clientId: str
    jobName: JobName
    status: JobStatus
    startedAt: datetime
    finishedAt: datetime | None = None
    durationMs: int | None = None
    attempt: int = 1
    lastError: str | None = None
    reason: str | None = None
    requestId: str
    source: str
    messageId: str | None = None
    version: int | None = None
    changed: bool | None = None
    rowsWritten: int | None = None
    changeStamp: str | None = None
    # The dirty mark the job's statement served (PostgreSQL's clock, as the app wrote it): every mark at or
    # before it is reflected in the counts this job published.
    dirtyAt: datetime | None = None

    @classmethod
    def start(cls, job: JobName, client_id: str, context: JobContext, started_at: datetime) -> StatusBlob:
        return cls(
            clientId=client_id,
            jobName=job,
            status=JobStatus.RUNNING,
            startedAt=started_at,
            attempt=context.attempt,
            requestId=context.request_id,
            source=context.source,
            messageId=context.message_id,
        )

    def finish(self, status: JobStatus, **fields: object) -> StatusBlob:
        finished_at = datetime.now(UTC)
        duration_ms = int((finished_at - self.startedAt).total_seconds() * 1000)
        return self.model_copy(
            update={"status": status, "finishedAt": finished_at, "durationMs": duration_ms, **fields}
        )
