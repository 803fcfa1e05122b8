"""Which queue an event goes to: every routed event names its queue, and an unrouted one is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest

from shared.contracts.errors import PermanentError
from shared.contracts.events import Envelope, EventName, Priority, new_event
from shared.contracts.settings import EnvVar, QueueSettings
from shared.domain.routing import queue_url_for

QUEUES = QueueSettings(
    **{  # type: ignore[arg-type]
        EnvVar.COUNTS_QUEUE_URL: "counts",
        EnvVar.COUNTS_HIGH_QUEUE_URL: "counts-high",
        EnvVar.ANALYTICS_QUEUE_URL: "analytics",
        EnvVar.SWEEP_QUEUE_URL: "sweep",
    }
)


@pytest.mark.parametrize(
    ("name", "priority", "queue"),
    [
        (EventName.INBOX_COUNTS_DIRTY, Priority.NORMAL, "counts"),
        (EventName.INBOX_COUNTS_RECOMPUTE, Priority.HIGH, "counts-high"),
        (EventName.ANALYTICS_AGGREGATES_RECOMPUTE, Priority.NORMAL, "analytics"),
        (EventName.INBOX_COUNTS_SWEEP, None, "sweep"),
        (EventName.ANALYTICS_AGGREGATES_SWEEP, None, "sweep"),
    ],
)
def test_given_a_routed_event_when_sent_then_it_goes_to_its_queue(
    name: EventName, priority: Priority | None, queue: str
) -> None:
    event = new_event(name) if priority is None else new_event(name, client_id="ws-1", priority=priority)
    assert queue_url_for(event, QUEUES) == queue


@dataclass(frozen=True)
class _UnroutedEvent:
    """Stands for an event added to the contract and not to routing."""

    name: str = "new.job.recompute"


def test_given_an_event_no_branch_routes_when_sent_then_it_is_refused_not_sent_to_counts() -> None:
    with pytest.raises(PermanentError, match=r"no queue is routed for new\.job\.recompute"):
        queue_url_for(cast(Envelope, _UnroutedEvent()), QUEUES)
