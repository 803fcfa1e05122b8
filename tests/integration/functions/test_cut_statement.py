"""The record's deadline cuts the inbox function's recompute while it waits for a row the app holds: the
function hands the record back, and the database stops the statement too, so the workspace's advisory lock is
free within a second (not after LOCK_TIMEOUT_MS), directly and through a real transaction pooler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.settings import EnvVar
from tests.builders import Workspace
from tests.integration.functions.harness import AwsFixture, FunctionUnderTest, Telemetry, load_handler
from tests.integration.pgbouncer import transaction_pooler
from tests.unit.fakes import FakeLambdaContext

MARGIN_MS = 5000  # the harness's TIME_BUDGET_MARGIN_MS
WORK_MS = 2000  # the record's work may take this long: the recompute is cut then
ADVISORY = (
    "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = 7301 "
    "AND objid = hashtext(:client_id)::oid "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# Sessions of this test run's database waiting for a lock (others share the server)
WAITING = (
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture(params=["direct", "pooled"])
def cut_function(
    request: pytest.FixtureRequest,
    function_env: AwsFixture,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FunctionUnderTest]:
    """The inbox function with waits far longer than the record may take: only the deadline ends its statement."""
    for name, value in {
        EnvVar.LOCK_TIMEOUT_MS: 30_000,
        EnvVar.STATEMENT_TIMEOUT_MS: 60_000,
        EnvVar.CONNECT_TIMEOUT_SECONDS: 0.2,
        EnvVar.REDIS_TIMEOUT_SECONDS: 0.1,  # Redis's bound (9 steps) then fits in the record's 2 s
    }.items():
        monkeypatch.setenv(str(name), str(value))
    with transaction_pooler(tmp_path / "pgbouncer") if request.param == "pooled" else nullcontext() as port:
        if port is not None:
            monkeypatch.setenv(str(EnvVar.DATABASE_URL), database_url.replace(":5432/", f":{port}/"))
            monkeypatch.setenv(str(EnvVar.DATABASE_POOLED), "true")
        function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
        yield function
        function.clients.close()


def test_given_the_recompute_waits_for_the_apps_row_when_the_deadline_cuts_it_then_the_lock_is_free_at_once(
    cut_function: FunctionUnderTest,
    workspace: Workspace,
    database_url: str,
    other_db: PostgresDatabase,
    telemetry: Telemetry,
) -> None:
    workspace.lead()
    workspace.mark_dirty()
    cut_function.aws.send("counts", to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=workspace.id)))
    # The app holds the dirty marker's row (its own upsert, in a transaction that takes its time)
    other_db.run("BEGIN")
    other_db.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id FOR UPDATE', id=workspace.id)
    try:
        result = cut_function.poll("counts", FakeLambdaContext(remaining_ms=MARGIN_MS + WORK_MS))
        assert len(result["failed"]) == 1  # handed back: out of time
        said = " ".join(str(line) for line in telemetry.records())
        assert "deadline cut a postgres statement short" in said, "the work never reached the database"
        returned = time.monotonic()
        observer = PostgresDatabase(database_url)
        try:
            while (
                observer.run(ADVISORY, client_id=workspace.id)[0]["n"] or observer.run(WAITING)[0]["n"]
            ) and time.monotonic() - returned < 1.0:
                time.sleep(0.05)
            assert observer.run(ADVISORY, client_id=workspace.id) == [{"n": 0}], "the workspace is still locked"
            assert observer.run(WAITING) == [{"n": 0}], "the cut statement still waits in the database"
        finally:
            observer.close()
    finally:
        other_db.run("ROLLBACK")
    # And the record's next delivery finds the workspace free
    cut_function.aws.make_visible("counts")
    assert cut_function.poll("counts")["failed"] == set()
    assert workspace.counts()["global"]["total"] == 1
