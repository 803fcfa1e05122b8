"""What the idempotency table keeps of one recompute: the result a replay reads back.

Records outlive a deploy (`IDEMPOTENCY_TTL_SECONDS`), so old and new code read each other's: the stored JSON keeps these
camelCase keys in this order, and `dirtyAt` stays `datetime.isoformat()`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from shared.contracts.keys import JobName


class OutcomeRecord(BaseModel):
    """One recompute's result, as stored by Powertools' idempotency (`PydanticSerializer` dumps it by alias)."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    client_id: str = Field(alias="clientId")
    job: JobName
    changed: bool
    version: int
    rows_written: int = Field(alias="rowsWritten")
    rows_deleted: int = Field(alias="rowsDeleted")
    marker_cleared: bool = Field(alias="markerCleared")
    duration_ms: int = Field(alias="durationMs")
    workspace_exists: bool = Field(alias="workspaceExists")
    dirty_at: datetime | None = Field(alias="dirtyAt")
    change_stamp: str | None = Field(alias="changeStamp")
    # The inbox pass that ran (full, full_with_state, incremental; docs/design.md §10). Added after the others:
    # a record stored without it reads as the full pass, and code from before it ignores the key.
    pass_: str = Field("full", alias="pass")

    @field_serializer("dirty_at")
    def _dirty_at_as_isoformat(self, dirty_at: datetime | None) -> str | None:
        # isoformat, not pydantic's JSON form ("Z" for UTC, no "+00:00"): the stored string stays what it was.
        return dirty_at.isoformat() if dirty_at is not None else None
