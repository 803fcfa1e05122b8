"""Through the real inbox handler: a Redis failover right after the commit, and a workspace deleted while it
is recomputed. Neither is poison: the first is retried until the owed version bump is published, the second
ends as a skip."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis

from recount.servers.toggle_proxy import ToggleProxy
from shared.adapters.postgres import PostgresDatabase
from shared.wiring.clients import EnvironmentClients, Given
from tests.builders import Workspace
from tests.integration.functions.harness import AwsFixture, FailoverAtCommit, FunctionUnderTest, load_handler
from tests.integration.functions.test_inbox_function import dirty_body, status_of, version_of


def test_given_a_redis_failover_right_after_the_commit_then_retried_and_the_owed_bump_published(
    function_env: AwsFixture,
    redis_proxy: ToggleProxy,
    read_only_replica: int,
    workspace: Workspace,
    raw_redis: redis.Redis,
) -> None:
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    primary = redis_proxy.target

    def fail_over() -> None:
        redis_proxy.down()
        redis_proxy.target = ("127.0.0.1", read_only_replica)
        redis_proxy.up()

    function.module.consumer.clients = EnvironmentClients(
        given=Given(sqs=function.sqs, db=FailoverAtCommit(function.clients.db, fail_over))
    )
    workspace.lead()
    workspace.mark_dirty()
    message_id = function.aws.send("counts", dirty_body(workspace.id))
    # When the rows commit and Redis fails over before the version bump
    assert function.poll("counts")["failed"] == {message_id}  # Then: retried (READONLY is transient) ...
    assert function.aws.depth(function.aws.queues["counts"].dlq_url) == (0, 0)  # ... not dead-lettered
    assert workspace.dirty_marker() is None and workspace.counts()["global"]["total"] == 1  # committed
    assert version_of(raw_redis, workspace.id) is None  # the bump is owed
    owed = workspace.inbox_version()
    # When the endpoint reaches the new primary and the message comes back
    redis_proxy.down()
    redis_proxy.target = primary
    redis_proxy.up()
    function.aws.make_visible("counts")
    assert function.poll("counts")["failed"] == set()
    # Then the owed bump is published, once: the version of the stamp committed before the failover
    assert workspace.inbox_version() == owed
    assert version_of(raw_redis, workspace.id) == str(owed)
    assert (status_of(raw_redis, workspace.id) or {})["status"] == "skipped"
    function.clients.close()


def test_given_the_workspace_deleted_while_it_is_recomputed_then_a_skip_not_poison(
    function_env: AwsFixture,
    workspace: Workspace,
    db: PostgresDatabase,
    other_db: PostgresDatabase,
    raw_redis: redis.Redis,
) -> None:
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    workspace.lead()
    workspace.mark_dirty()
    function.aws.send("counts", dirty_body(workspace.id))
    # Given the app deleting the workspace in a transaction still open
    other_db.run("BEGIN")
    other_db.run('DELETE FROM "Client" WHERE id = :id', id=workspace.id)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(function.poll("counts")))
    worker.start()
    # When the recompute's write waits on the deleted row, and then the deletion commits
    deadline = time.monotonic() + 1.5  # under the function's 2 s lock_timeout
    while not db.run(
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND query LIKE '%InboxCounts%'"
    ):
        assert time.monotonic() < deadline, "the recompute never waited on the deleted workspace"
        time.sleep(0.02)
    other_db.run("COMMIT")
    worker.join(10)
    # Then the record succeeds as a skip: nothing written, nothing dead-lettered
    assert result["failed"] == set()
    assert function.aws.depth(function.aws.queues["counts"].dlq_url) == (0, 0)
    status = status_of(raw_redis, workspace.id) or {}
    assert status["status"] == "skipped" and "deleted" in status["reason"]
    assert db.run('SELECT count(*) AS n FROM "InboxCounts" WHERE "clientId" = :id', id=workspace.id)[0]["n"] == 0
    assert json.dumps(status)  # a readable blob
    function.clients.close()


def test_given_a_failover_that_leaves_connections_on_the_demoted_primary_then_the_retry_reconnects(
    function_env: AwsFixture,
    redis_proxy: ToggleProxy,
    read_only_replica: int,
    workspace: Workspace,
    raw_redis: redis.Redis,
) -> None:
    # Given the function's Redis connection open on a server that is now a read-only replica
    primary = redis_proxy.target
    redis_proxy.target = ("127.0.0.1", read_only_replica)
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    workspace.lead()
    workspace.mark_dirty()
    message_id = function.aws.send("counts", dirty_body(workspace.id))
    assert function.poll("counts")["failed"] == {message_id}  # READONLY: transient
    # When the endpoint moves to the new primary without cutting any connection (as DNS does)
    redis_proxy.target = primary
    function.aws.make_visible("counts")
    # Then the retry does not reuse the connection to the replica: it succeeds on the new primary
    assert function.poll("counts")["failed"] == set()
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version())
    function.clients.close()
