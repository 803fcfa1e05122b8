"""send: one event, built and validated against the contract, routed as the functions route it."""

from __future__ import annotations

from dataclasses import dataclass

from recount.commands.connections import queue_client, queue_name, queue_settings
from recount.commands.targets import Target
from recount.commands.usage import UsageError, parse_priority
from shared.contracts.errors import RecountError
from shared.contracts.events import Envelope, EventName, new_event, to_body
from shared.domain.routing import queue_url_for
from shared.ports import OutgoingMessage

SWEEP_EVENTS = (EventName.INBOX_COUNTS_SWEEP, EventName.ANALYTICS_AGGREGATES_SWEEP)


@dataclass(frozen=True)
class SentEvent:
    event: str
    eventId: str
    clientId: str | None
    queue: str
    messageId: str


def build_event(name: str, client_id: str | None, *, priority: str = "normal", source: str = "manual") -> Envelope:
    """The envelope, validated against the contract; any violation is a usage error."""
    try:
        event_name = EventName(name)
    except ValueError:
        raise UsageError(f"unknown event {name!r}: choose one of {', '.join(e.value for e in EventName)}") from None
    if event_name in SWEEP_EVENTS and client_id is not None:
        raise UsageError(f"{event_name.value} is a sweep event: it takes no --client-id")
    if event_name not in SWEEP_EVENTS and client_id is None:
        raise UsageError(f"{event_name.value} needs --client-id")
    try:
        return new_event(event_name, client_id=client_id, source=source, priority=parse_priority(priority))
    except RecountError as error:
        raise UsageError(str(error)) from None


def send_event(target: Target, event: Envelope) -> SentEvent:
    url = queue_url_for(event, queue_settings(target))
    message_id = queue_client(target).send(url, OutgoingMessage(to_body(event)))
    client_id = None if event.name in SWEEP_EVENTS else event.data.clientId  # type: ignore[union-attr]
    return SentEvent(event.name.value, event.id, client_id, queue_name(target, url), message_id)
