"""Ids in the app's tables that break recount's clientId rule take no room in a sweep: not in the dirty pages,
not under the snooze pass's limit, not in the backlog figures; they are counted and the oldest named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings, SweepSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.domain.sweep import sweep_inbox
from shared.telemetry import set_emf
from tests.builders import Workspace
from tests.unit.fakes import FakeClients

LEGACY = [f"acme.corp {n}" for n in range(12)]  # spaces and dots: outside the rule


@pytest.fixture(autouse=True)
def _leave_no_workspaces(db: PostgresDatabase) -> Iterator[None]:
    """The database is shared by the session: sweeps elsewhere count every marker left here. The sweeps here
    run outside a handler, so their metrics stay out of Powertools' EMF buffer (a later handler would flush them)."""
    set_emf(False)
    yield
    set_emf(True)
    db.run('DELETE FROM "Client" WHERE id = ANY(CAST(:ids AS text[]))', ids=[*LEGACY, "valid-workspace"])


def sweeper(db: PostgresDatabase, max_workspaces: int) -> FakeClients:
    clients = FakeClients(db=cast(Any, db))
    clients.sweep = SweepSettings.model_construct(
        page_size=max_workspaces, max_workspaces=max_workspaces, min_age_s=0.0, snooze_lookback_hours=24
    )
    return clients


def enqueued(clients: FakeClients) -> list[str]:
    return sorted(json.loads(message.body)["data"]["clientId"] for _, message in clients.sqs.sent)


def test_legacy_ids_never_block_the_snooze_pass(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings
) -> None:
    # Given workspaces computed an hour ago (the legacy ones by the app: recount never computes them) whose
    # snoozes ended since, the legacy ones sorting first
    now = db.run("SELECT statement_timestamp() AT TIME ZONE 'UTC' AS now")[0]["now"]
    valid = Workspace.create(db, client_id="valid-workspace")
    valid.lead(snoozedUntil=now + timedelta(hours=1))
    Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=now - timedelta(hours=1)).run(
        valid.id, JobContext("r", "test")
    )
    for legacy in LEGACY:
        Workspace.create(db, client_id=legacy).lead()
        db.run(
            'INSERT INTO "InboxCounts" (id, "clientId", "isGlobal", "scopeUserId", "computedAt", "updatedAt") '
            "VALUES (:id, :client, true, '00000000-0000-0000-0000-000000000000', :at, :at)",
            id=f"legacy-{legacy}",
            client=legacy,
            at=now - timedelta(hours=1),
        )
    db.run('UPDATE "Lead" SET "snoozedUntil" = :at', at=now - timedelta(minutes=1))
    # When a sweep with room for 10 runs, Then the valid workspace is enqueued every time
    for _ in range(2):
        clients = sweeper(db, 10)
        report = sweep_inbox(clients, "test")
        assert enqueued(clients) == ["valid-workspace"] and report.enqueued_snoozed == 1


def test_legacy_markers_take_no_page_and_are_counted_apart(db: PostgresDatabase) -> None:
    # Given more legacy dirty markers than a sweep has room for, older than a valid one
    old = datetime(2020, 1, 1)
    for legacy in LEGACY:
        Workspace.create(db, client_id=legacy).mark_dirty(dirty_at=old)
    Workspace.create(db, client_id="valid-workspace").mark_dirty(dirty_at=old + timedelta(days=1))
    # When a sweep with room for 10 runs
    clients = sweeper(db, 10)
    report = sweep_inbox(clients, "test")
    # Then the valid one is enqueued in one page, the legacy ones counted and the oldest named, not enqueued
    assert enqueued(clients) == ["valid-workspace"]
    assert report.backlog == 1 and report.invalid_count == len(LEGACY)
    assert list(report.invalid_ids) == sorted(LEGACY)[:20]
