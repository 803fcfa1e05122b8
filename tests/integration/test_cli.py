"""The operator CLI, run as operators run it: python -m recount, against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from shared.adapters.postgres import PostgresDatabase
from tests.builders import Workspace

ROOT = Path(__file__).resolve().parents[2]


def recount(*args: str, database_url: str, redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ANALYTICS_AGGREGATES_ENABLED": "true",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "recount", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_twice_changes_nothing(database_url: str, redis_url: str, db: PostgresDatabase) -> None:
    # Given a migrated database, when migrate runs twice more, then the schema is the same and it exits 0
    before = db.run("SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'public'")[0]["n"]
    for _ in range(2):
        result = recount("migrate", database_url=database_url, redis_url=redis_url)
        assert result.returncode == 0, result.stderr
    assert db.run("SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'public'")[0]["n"] == before


def test_recompute_inbox_counts_writes_rows_and_bumps_the_version(
    database_url: str, redis_url: str, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    workspace.lead(status="new", assignedToUserId="setter-1")
    workspace.mark_dirty()
    result = recount(
        "recompute",
        "inbox-counts",
        "--client-id",
        workspace.id,
        "--json",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    version = workspace.inbox_version()
    assert outcome["changed"] is True and outcome["version"] == version and outcome["markerCleared"] is True
    assert workspace.counts()["global"]["total"] == 1
    assert workspace.counts()["setter-1"]["total"] == 1
    assert workspace.dirty_marker() is None
    assert raw_redis.get(f"inbox:v1:ver:{workspace.id}") == str(version)
    assert json.loads(raw_redis.get(f"job:v1:{workspace.id}:inbox_counts") or "{}")["status"] == "succeeded"


def test_recompute_analytics_aggregates_writes_the_window(
    database_url: str, redis_url: str, workspace: Workspace, db: PostgresDatabase
) -> None:
    result = recount(
        "recompute",
        "analytics-aggregates",
        "--client-id",
        workspace.id,
        database_url=database_url,
        redis_url=redis_url,
        ANALYTICS_WINDOW_DAYS="7",
    )
    assert result.returncode == 0, result.stderr
    rows = db.run('SELECT count(*) AS n FROM "AnalyticsDailyAggregates" WHERE "clientId" = :id', id=workspace.id)
    assert rows[0]["n"] == 7


def test_analytics_recompute_refused_while_the_path_is_disabled(
    database_url: str, redis_url: str, workspace: Workspace, db: PostgresDatabase
) -> None:
    result = recount(
        "recompute",
        "analytics-aggregates",
        "--client-id",
        workspace.id,
        database_url=database_url,
        redis_url=redis_url,
        ANALYTICS_AGGREGATES_ENABLED="false",
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: analytics aggregates are disabled")
    assert db.run('SELECT count(*) AS n FROM "AnalyticsDailyAggregates"')[0]["n"] == 0


def test_a_bad_client_id_is_one_line_and_nothing_is_written(
    database_url: str, redis_url: str, workspace: Workspace, raw_redis: redis.Redis, db: PostgresDatabase
) -> None:
    # Given one good and one bad id, when recomputing both, then nothing at all is written
    result = recount(
        "recompute",
        "inbox-counts",
        "--client-id",
        workspace.id,
        "--client-id",
        "a:b",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "invalid clientId 'a:b'" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.run('SELECT count(*) AS n FROM "InboxCounts"')[0]["n"] == 0
    assert raw_redis.keys("*") == []


def test_an_unreachable_database_is_one_line(redis_url: str, raw_redis: redis.Redis) -> None:
    result = recount(
        "recompute",
        "inbox-counts",
        "--client-id",
        "acme",
        database_url="postgresql://postgres@127.0.0.1:1/none",
        redis_url=redis_url,
        CONNECT_TIMEOUT_SECONDS="1",
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: postgres unreachable")
    assert raw_redis.keys("*") == []


def test_a_missing_database_url_is_one_line(redis_url: str) -> None:
    result = recount("migrate", database_url="", redis_url=redis_url)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: DATABASE_URL is not set"


def test_schema_prints_the_committed_json_schema(database_url: str, redis_url: str) -> None:
    result = recount("schema", database_url=database_url, redis_url=redis_url)
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((ROOT / "docs" / "events.schema.json").read_text())
