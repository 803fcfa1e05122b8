"""backfill: one recompute event per workspace, in batches, at a bounded rate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from recount.commands.connections import clients_for, queue_client, queue_name, queue_settings
from recount.commands.targets import Target
from recount.commands.usage import UsageError, parse_priority, valid_client_ids
from recount.commands.workspaces import all_client_ids
from shared.adapters.sqs import SEND_BATCH_LIMIT
from shared.contracts.errors import RecountError
from shared.contracts.events import EventName, new_event, to_body
from shared.domain.routing import queue_url_for
from shared.ports import OutgoingMessage


@dataclass(frozen=True)
class BackfillReport:
    sent: int
    queue: str
    requestId: str
    seconds: float


def backfill_ids(target: Target, client_ids: list[str] | None) -> tuple[list[str], list[str]]:
    """The workspaces to backfill: the given ids (all valid, or a usage error), or every one in PostgreSQL
    (invalid ids returned apart, to be reported and skipped)."""
    if client_ids is not None:
        return valid_client_ids(client_ids), []
    clients = clients_for(target)
    try:
        return all_client_ids(clients.db)
    finally:
        clients.close()


def backfill(
    target: Target,
    client_ids: list[str],
    *,
    analytics: bool = False,
    priority: str = "normal",
    rate: float = 50.0,
    on_sent: Callable[[int], None] = lambda _: None,
) -> BackfillReport:
    """One recompute event per workspace, in batches of up to ten, at most `rate` events per second."""
    if rate <= 0:
        raise UsageError("--rate must be positive")
    name = EventName.ANALYTICS_AGGREGATES_RECOMPUTE if analytics else EventName.INBOX_COUNTS_RECOMPUTE
    level = parse_priority(priority)
    settings, client = queue_settings(target), queue_client(target)
    request_id = f"backfill-{uuid.uuid4()}"
    batch = max(1, min(SEND_BATCH_LIMIT, int(rate)))
    started, sent, url = time.monotonic(), 0, ""
    for offset in range(0, len(client_ids), batch):
        time.sleep(max(0.0, started + offset / rate - time.monotonic()))
        events = [
            new_event(name, client_id=client_id, source="backfill", priority=level, request_id=request_id)
            for client_id in client_ids[offset : offset + batch]
        ]
        url = queue_url_for(events[0], settings)
        try:
            client.send_batch(url, [OutgoingMessage(to_body(event)) for event in events])
        except RecountError as error:
            raise type(error)(
                f"{error} (sent {sent} of {len(client_ids)} before it; the rest were not sent)"
            ) from error
        sent += len(events)
        on_sent(len(events))
    return BackfillReport(
        sent, queue_name(target, url) if url else "-", request_id, round(time.monotonic() - started, 3)
    )
