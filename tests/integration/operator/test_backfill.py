"""backfill: one recompute event per workspace, rate limited."""

from __future__ import annotations

import json
import time

from shared.adapters.postgres import PostgresDatabase
from tests.builders import Workspace
from tests.integration.operator.conftest import Operator


def test_backfill_all_sends_one_event_per_valid_workspace(operator: Operator, db: PostgresDatabase) -> None:
    # Given 13 workspaces (more than one batch) and one whose id may not reach a queue
    workspaces = [Workspace.create(db) for _ in range(13)]
    Workspace.create(db, client_id="bad id")

    result = operator.run("backfill", "--all", "--rate", "1000")

    assert result.returncode == 0, result.stderr
    assert "sent 13 inbox.counts.recompute event(s) to counts" in result.stdout
    assert "skipped 1 invalid clientId" in result.stdout and "'bad id'" in result.stderr
    bodies = operator.bodies("counts")
    assert sorted(body["data"]["clientId"] for body in bodies) == sorted(w.id for w in workspaces)
    assert len({body["id"] for body in bodies}) == 13
    assert {(body["data"]["source"], body["data"]["priority"]) for body in bodies} == {("backfill", "normal")}
    assert len({body["data"]["requestId"] for body in bodies}) == 1  # one correlation id per backfill
    assert operator.empty_except("counts")


def test_backfill_given_ids_honours_rate_priority_and_analytics(operator: Operator) -> None:
    ids = [f"ws-{index}" for index in range(10)]
    started = time.monotonic()
    result = operator.run(
        "backfill",
        *(arg for client_id in ids for arg in ("--client-id", client_id)),
        "--rate",
        "5",
        "--analytics",
        "--priority",
        "high",
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert "sent 10 analytics.aggregates.recompute event(s) to analytics" in result.stdout
    assert elapsed >= 1.0  # 10 events at 5 per second: two batches of five, a second apart
    bodies = [json.loads(m["Body"]) for m in operator.drain(operator.url("analytics"))]
    assert sorted(body["data"]["clientId"] for body in bodies) == sorted(ids)
    assert {body["data"]["priority"] for body in bodies} == {"high"}
    assert operator.empty_except("analytics")


def test_backfill_refuses_a_bad_id_before_sending_anything(operator: Operator) -> None:
    result = operator.run("backfill", "--client-id", "good", "--client-id", "bad:id")
    assert result.returncode == 2 and "invalid clientId 'bad:id'" in result.stderr
    assert operator.empty_except()
