"""The event envelope (docs/design.md §5): one JSON object per message, validated here and nowhere else."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.contracts.client_id import ClientId
from shared.contracts.errors import PoisonMessageError

# SQS allows 256 KiB; a real envelope is a few hundred bytes, so anything this large is a mistake.
MAX_ENVELOPE_BYTES = 8 * 1024
SCHEMA_VERSION = 1
SCHEMA_ID = "https://recount.dev/schemas/events.schema.json"


class EventName(StrEnum):
    INBOX_COUNTS_DIRTY = "inbox.counts.dirty"
    INBOX_COUNTS_RECOMPUTE = "inbox.counts.recompute"
    ANALYTICS_AGGREGATES_RECOMPUTE = "analytics.aggregates.recompute"
    INBOX_COUNTS_SWEEP = "inbox.counts.sweep"
    ANALYTICS_AGGREGATES_SWEEP = "analytics.aggregates.sweep"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
ShortText = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
SourceName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")]


class WorkspaceEventData(BaseModel):
    """What a per-workspace event carries."""

    model_config = _STRICT

    clientId: ClientId
    requestId: ShortText | None = Field(None, description="Correlation id; defaults to the envelope id.")
    source: SourceName = Field("app", description="Who sent it: webhook, app, manual, sweep, backfill...")
    priority: Priority = Priority.NORMAL
    dirtyGeneration: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = Field(
        None,
        description="Set by the sweeper: the dirty marker generation this recompute serves. A recompute "
        "without it runs once per event id; with it, once per generation.",
    )


class SweepEventData(BaseModel):
    """What a schedule's sweep event carries."""

    model_config = _STRICT

    requestId: ShortText | None = None
    source: SourceName = "schedule"


class _Envelope(BaseModel):
    model_config = _STRICT

    version: Literal[1] = 1
    id: ShortText
    occurredAt: AwareDatetime

    @property
    def request_id(self) -> str:
        data: WorkspaceEventData | SweepEventData = self.data  # type: ignore[attr-defined]
        return data.requestId or self.id


class InboxCountsDirty(_Envelope):
    """The app changed data the counts depend on: make sure a recompute follows (coalesced)."""

    name: Literal[EventName.INBOX_COUNTS_DIRTY]
    data: WorkspaceEventData


class InboxCountsRecompute(_Envelope):
    """Recompute one workspace's inbox counts now."""

    name: Literal[EventName.INBOX_COUNTS_RECOMPUTE]
    data: WorkspaceEventData


class AnalyticsAggregatesRecompute(_Envelope):
    """Recompute one workspace's analytics daily aggregates (when the path is enabled)."""

    name: Literal[EventName.ANALYTICS_AGGREGATES_RECOMPUTE]
    data: WorkspaceEventData


class InboxCountsSweep(_Envelope):
    """Schedules only: enqueue a recompute for every dirty or due workspace."""

    name: Literal[EventName.INBOX_COUNTS_SWEEP]
    data: SweepEventData = SweepEventData()


class AnalyticsAggregatesSweep(_Envelope):
    """Schedules only: enqueue a recompute for every workspace whose analytics reads missed their SLO."""

    name: Literal[EventName.ANALYTICS_AGGREGATES_SWEEP]
    data: SweepEventData = SweepEventData()


WorkspaceEvent = InboxCountsDirty | InboxCountsRecompute | AnalyticsAggregatesRecompute
SweepEvent = InboxCountsSweep | AnalyticsAggregatesSweep
Envelope = Annotated[WorkspaceEvent | SweepEvent, Field(discriminator="name")]
ENVELOPE_ADAPTER: TypeAdapter[Envelope] = TypeAdapter(Envelope)

_MODEL_BY_NAME: dict[EventName, type[_Envelope]] = {
    EventName.INBOX_COUNTS_DIRTY: InboxCountsDirty,
    EventName.INBOX_COUNTS_RECOMPUTE: InboxCountsRecompute,
    EventName.ANALYTICS_AGGREGATES_RECOMPUTE: AnalyticsAggregatesRecompute,
    EventName.INBOX_COUNTS_SWEEP: InboxCountsSweep,
    EventName.ANALYTICS_AGGREGATES_SWEEP: AnalyticsAggregatesSweep,
}


def parse_envelope(body: str | bytes) -> Envelope:
    """Validate one message body; raise PoisonMessageError with a one-line reason if it can never succeed."""
    size = len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    if size > MAX_ENVELOPE_BYTES:
        raise PoisonMessageError(f"oversize: body is {size} bytes, the limit is {MAX_ENVELOPE_BYTES}")
    try:
        raw = json.loads(body)
    except RecursionError:
        raise PoisonMessageError("not an envelope: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise PoisonMessageError(f"not JSON: {_one_line(str(error))}") from None
    if not isinstance(raw, dict):
        raise PoisonMessageError(f"not an envelope: expected a JSON object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or name not in _MODEL_BY_NAME:  # a list or an object is not hashable
        raise PoisonMessageError(f"unknown event name {_shown(name)}")
    if ("version" in raw and raw["version"] != SCHEMA_VERSION) or isinstance(raw.get("version"), bool):
        raise PoisonMessageError(f"unsupported version {_shown(raw.get('version'))} of {name}")
    try:
        return ENVELOPE_ADAPTER.validate_json(body)
    except ValidationError as error:
        raise PoisonMessageError(f"invalid {name}: {_first_error(error)}") from None


def new_event(
    name: EventName,
    *,
    client_id: str | None = None,
    source: str = "manual",
    priority: Priority = Priority.NORMAL,
    request_id: str | None = None,
    dirty_generation: str | None = None,
) -> Envelope:
    """Build a valid envelope (for the sweeper, the CLI and tests); raises PermanentError if invalid."""
    event_id = str(uuid.uuid4())
    data: dict[str, Any] = {"requestId": request_id or event_id, "source": source}
    if client_id is not None:
        data |= {"clientId": client_id, "priority": priority.value}
        if dirty_generation is not None:
            data["dirtyGeneration"] = dirty_generation
    raw = {
        "name": name.value,
        "version": SCHEMA_VERSION,
        "id": event_id,
        "occurredAt": datetime.now(UTC).isoformat(),
        "data": data,
    }
    return parse_envelope(json.dumps(raw))


def to_body(event: Envelope) -> str:
    """The JSON body for SQS: field names as in the contract, nothing left out."""
    return event.model_dump_json()


def json_schema() -> dict[str, Any]:
    """The JSON Schema that producers in other languages validate against."""
    schema = ENVELOPE_ADAPTER.json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "recount event envelope",
        "description": "One message body on a recount queue (docs/design.md section 5).",
        **schema,
    }


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    # loc starts with the discriminator's value (the event name), which the message names already.
    where = ".".join(str(part) for part in first["loc"][1:]) or "body"
    message = first["msg"].removeprefix("Value error, ")
    return _one_line(f"{where}: {message}")


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return _one_line(text if len(text) <= 80 else text[:77] + "...")


def _one_line(text: str) -> str:
    return " ".join(text.split())
