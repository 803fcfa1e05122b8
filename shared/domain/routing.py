"""Which queue an event goes to when recount sends it: high priority never waits behind normal."""

from __future__ import annotations

from shared.contracts.errors import PermanentError
from shared.contracts.events import (
    AnalyticsAggregatesRecompute,
    AnalyticsAggregatesSweep,
    Envelope,
    InboxCountsDirty,
    InboxCountsRecompute,
    InboxCountsSweep,
    Priority,
)
from shared.contracts.settings import EnvVar, QueueSettings


def queue_url_for(event: Envelope, queues: QueueSettings) -> str:
    if isinstance(event, InboxCountsSweep | AnalyticsAggregatesSweep):
        url = queues.sweep_queue_url
        name = EnvVar.SWEEP_QUEUE_URL
    elif isinstance(event, AnalyticsAggregatesRecompute):
        url, name = queues.analytics_queue_url, EnvVar.ANALYTICS_QUEUE_URL
    elif isinstance(event, InboxCountsDirty | InboxCountsRecompute):
        if event.data.priority is Priority.HIGH:
            url, name = queues.counts_high_queue_url, EnvVar.COUNTS_HIGH_QUEUE_URL
        else:
            url, name = queues.counts_queue_url, EnvVar.COUNTS_QUEUE_URL
    else:  # an event added to the contract but not here must not land on the counts queue by default
        raise PermanentError(f"no queue is routed for {event.name}: add it to shared/domain/routing.py")
    if not url:
        raise PermanentError(f"{name.value} is not set: nowhere to send {event.name.value}")
    return url
