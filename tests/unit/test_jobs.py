"""The jobs' decisions (busy, clean, duplicate, disabled, recomputed) on in-memory ports: which statements run,
what the status says, when the version moves. The statements themselves are proven on PostgreSQL in
tests/integration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from shared.contracts.errors import BusyError
from shared.contracts.events import (
    AnalyticsAggregatesRecompute,
    EventName,
    InboxCountsDirty,
    InboxCountsRecompute,
    new_event,
)
from shared.contracts.keys import JobName, version_for_stamp
from shared.contracts.status import JobContext, JobStatus
from shared.domain.jobs import Skip, idempotency_key, run_analytics_aggregates, run_inbox_counts
from shared.domain.recompute import GENERIC_PLANS_BEGIN
from shared.ports import Row
from tests.unit.fakes import FakeClients, outcome_record

CONTEXT = JobContext("req-1", "unit", "m0", 1)
STAMP = datetime(2026, 12, 2, 9, 0, 0, 123000)


def locked(generation: str | None, *, locked: bool = True) -> list[Row]:
    return [
        {
            "locked": locked,
            "generation": generation,
            "dirty_at": STAMP if generation else None,
            "change_stamp": None,
            "probe_review": True,
            "probe_sent": True,
        }
    ]


def written(params: dict[str, Any]) -> list[Row]:
    return [
        {
            "workspace_exists": True,
            "rows_written": 3,
            "rows_deleted": 0,
            "changed": True,
            "change_stamp": STAMP,
            "generation": "g1",
            "dirty_at": STAMP,
            "marker_cleared": True,
            "computed_at": STAMP,
        }
    ]


def inbox_clients(generation: str | None, *, is_locked: bool = True) -> FakeClients:
    clients = FakeClients()
    clients.db.answers = {
        "inbox_counts:lock_and_read_marker": locked(generation, locked=is_locked),
        "inbox_counts:recompute": written,
    }
    return clients


def dirty() -> InboxCountsDirty:
    event = new_event(EventName.INBOX_COUNTS_DIRTY, client_id="ws-1", source="unit")
    assert isinstance(event, InboxCountsDirty)
    return event


def test_dirty_event_recomputes_commits_then_bumps_the_version() -> None:
    clients = inbox_clients("g1")
    result = run_inbox_counts(clients, dirty(), CONTEXT)
    assert result.outcome is not None and result.outcome.changed and result.skipped is None
    # a dirty job begins with generic plans (the lock query keeps one plan for every workspace)
    assert clients.db.ran == [
        GENERIC_PLANS_BEGIN,
        "inbox_counts:lock_and_read_marker",
        "inbox_counts:recompute",
        "COMMIT",
    ]
    # the version its change stamp stands for (the stamp's milliseconds times VERSION_ROOM)
    assert clients.versions.versions == {("inbox_counts", "ws-1"): version_for_stamp(STAMP.isoformat())}
    assert [s.status for s in clients.versions.statuses] == [JobStatus.RUNNING, JobStatus.SUCCEEDED]
    assert "inbox_counts:ws-1:gen:g1" in clients.idempotency.results


def test_dirty_event_with_no_mark_left_is_a_clean_skip_that_writes_nothing() -> None:
    clients = inbox_clients(None)
    result = run_inbox_counts(clients, dirty(), CONTEXT)
    assert result.skipped is Skip.CLEAN
    assert "inbox_counts:recompute" not in clients.db.ran and clients.db.rolled_back == 1
    assert clients.versions.versions == {} and clients.versions.statuses[-1].status is JobStatus.SKIPPED


def test_generation_already_recomputed_is_a_duplicate_skip() -> None:
    clients = inbox_clients("g1")
    event = dirty()
    clients.idempotency.results[idempotency_key(JobName.INBOX_COUNTS, event, "g1")] = outcome_record("ws-1")
    result = run_inbox_counts(clients, event, CONTEXT)
    assert result.skipped is Skip.DUPLICATE
    assert "inbox_counts:recompute" not in clients.db.ran and clients.versions.versions == {}


def test_recompute_event_without_generation_is_keyed_on_its_event_id() -> None:
    clients = inbox_clients(None)
    event = new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id="ws-1", source="unit")
    assert isinstance(event, InboxCountsRecompute)
    run_inbox_counts(clients, event, CONTEXT)
    assert list(clients.idempotency.results) == [f"inbox_counts:ws-1:event:{event.id}"]
    assert "inbox_counts:recompute" in clients.db.ran


def test_lock_held_elsewhere_is_busy_and_leaves_no_status() -> None:
    clients = inbox_clients("g1", is_locked=False)
    with pytest.raises(BusyError):
        run_inbox_counts(clients, dirty(), CONTEXT)
    assert clients.db.rolled_back == 1 and clients.versions.statuses == []


def test_analytics_disabled_is_a_skip_without_touching_postgres() -> None:
    clients = FakeClients()
    clients.recompute = clients.recompute.model_copy(update={"analytics_aggregates_enabled": False})
    event = new_event(EventName.ANALYTICS_AGGREGATES_RECOMPUTE, client_id="ws-1", source="unit")
    assert isinstance(event, AnalyticsAggregatesRecompute)
    result = run_analytics_aggregates(clients, event, CONTEXT)
    assert result.skipped is Skip.DISABLED and clients.db.ran == []
    assert clients.versions.statuses[-1].status is JobStatus.SKIPPED
