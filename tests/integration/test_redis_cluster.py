"""recount on a Redis Cluster: found by itself, every command in one slot, the old key names read once, and
a bump that stays single when its status write fails or a master fails over mid-run."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from recount.throwaway_cluster import ThrowawayCluster
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import PermanentError, RecountError, TransientError
from shared.contracts.keys import JobName, applied_stamp_key, legacy_applied_stamp_key, version_key
from shared.contracts.settings import StoreSettings
from shared.contracts.status import JobContext, JobStatus, StatusBlob


def _final(client_id: str, request_id: str) -> StatusBlob:
    started = StatusBlob.start(JobName.INBOX_COUNTS, client_id, JobContext(request_id, "test"), datetime.now(UTC))
    return started.finish(JobStatus.SUCCEEDED)


def _stamp(n: int) -> str:
    return f"2026-11-29T10:{n // 60000:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}"


def test_auto_finds_the_cluster_and_a_single_node_alike(redis_cluster_url: str, single_redis_url: str) -> None:
    on_cluster, on_node = RedisStore(redis_cluster_url), RedisStore(single_redis_url)
    try:
        assert on_cluster.publish(_final("acme", "r1"), _stamp(1)) == 1
        assert on_node.publish(_final("acme", "r1"), _stamp(1)) == 1
        assert on_cluster.in_cluster_mode and not on_node.in_cluster_mode
    finally:
        on_cluster.close()
        on_node.close()


def test_the_applied_stamp_shares_the_version_keys_slot() -> None:
    for job in JobName:
        for client_id in ("acme", "0b7e6f1c-4a8e-4f3e-9a51-2f0f1c1d2e3f", "x"):
            applied, version = applied_stamp_key(job, client_id), version_key(job, client_id)
            assert key_slot(applied.encode()) == key_slot(version.encode())
            assert key_slot(applied.encode()) != key_slot(legacy_applied_stamp_key(job, client_id).encode())


def test_the_cluster_refuses_what_one_node_accepts_so_the_tests_on_it_would_see_a_cross_slot_command(
    redis_cluster_url: str,
) -> None:
    # Told it is one node, the store sends its one-round-trip script over keys of three slots: refused
    store = RedisStore(redis_cluster_url, cluster="false")
    try:
        with pytest.raises(RecountError, match="redis"):
            store.publish(_final("acme", "r1"), _stamp(1))
    finally:
        store.close()


def test_a_database_other_than_0_on_a_cluster_is_a_one_line_error(redis_cluster_url: str) -> None:
    told = RedisStore(redis_cluster_url.removesuffix("/0") + "/3", cluster="true")
    with pytest.raises(PermanentError, match=r"^REDIS_URL selects database 3, but a Redis Cluster has only database 0"):
        told.read_version(JobName.INBOX_COUNTS, "acme")
    found = RedisStore(redis_cluster_url.removesuffix("/0") + "/3")  # auto: the node refuses the SELECT itself
    with pytest.raises(PermanentError, match=r"^redis: .*SELECT"):
        found.read_version(JobName.INBOX_COUNTS, "acme")
    with pytest.raises(ValueError, match="REDIS_CLUSTER=true"):
        StoreSettings(REDIS_URL="redis://cache:6379/3", REDIS_CLUSTER="true")
    assert StoreSettings(REDIS_URL="redis://cache:6379/3").redis_cluster == "auto"  # auto: checked on first use


def test_the_old_applied_stamp_is_read_once_when_the_new_key_is_missing(single_redis_url: str) -> None:
    raw = redis.Redis.from_url(single_redis_url, decode_responses=True)
    store = RedisStore(single_redis_url)
    try:
        # Given a workspace published by a recount that kept the stamp under the old name
        raw.set(version_key(JobName.INBOX_COUNTS, "acme"), 5)
        raw.set(legacy_applied_stamp_key(JobName.INBOX_COUNTS, "acme"), _stamp(7))
        # When the same stamp is published again, then nothing is bumped, and the stamp moves to the new name
        assert store.publish(_final("acme", "again"), _stamp(7)) == 5
        assert raw.get(applied_stamp_key(JobName.INBOX_COUNTS, "acme")) == _stamp(7)
        # and an older one is late, a newer one bumps once
        assert store.publish(_final("acme", "older"), _stamp(6)) == 5
        assert store.publish(_final("acme", "newer"), _stamp(8)) == 6
    finally:
        store.close()
        raw.close()


@pytest.fixture
def versions_only_url(redis_cluster: ThrowawayCluster, redis_cluster_url: str) -> Iterator[str]:
    """A user, on every node of the cluster, that may write the version keys but not the status keys."""
    user, password = f"recount-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    nodes = [redis.Redis(host="127.0.0.1", port=port) for port in redis_cluster.ports]
    for node in nodes:
        node.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["inbox:*"], commands=["+@all"])
    try:
        yield redis_cluster_url.replace("redis://", f"redis://{user}:{password}@", 1)
    finally:
        for node in nodes:
            node.acl_deluser(user)
            node.close()


def test_on_a_cluster_a_status_write_that_fails_after_the_bump_is_retried_without_a_second_bump(
    redis_cluster_url: str, versions_only_url: str
) -> None:
    store, refused = RedisStore(redis_cluster_url), RedisStore(versions_only_url, cluster="true")
    try:
        # Given a publish whose bump lands but whose status write (a command of its own on a cluster) is refused
        with pytest.raises(PermanentError, match="redis: "):
            refused.publish(_final("acme", "first try"), _stamp(1))
        assert store.read_version(JobName.INBOX_COUNTS, "acme") == 1
        assert store.read_status(JobName.INBOX_COUNTS, "acme") is None
        # When the record is retried with the same committed stamp
        assert store.publish(_final("acme", "retry"), _stamp(1)) == 1
        # Then the version moved once, and the status ends right
        status = store.read_status(JobName.INBOX_COUNTS, "acme")
        assert status is not None and (status.requestId, status.version) == ("retry", 1)
    finally:
        store.close()
        refused.close()


@pytest.fixture(scope="module")
def replicated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCluster]:
    cluster = ThrowawayCluster.on_free_ports(Path(tmp_path_factory.mktemp("replicated")), replicas=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_a_master_failover_mid_run_loses_no_bump_and_bumps_none_twice(replicated_cluster: ThrowawayCluster) -> None:
    store = RedisStore(replicated_cluster.url, timeout_s=1.0)
    workspaces = [f"ws-{n}" for n in range(30)]  # spread over the three masters' slots
    serving = replicated_cluster.ports[0]
    failover = threading.Thread(target=replicated_cluster.fail_over, args=(0,))
    retried, change = 0, 0
    try:
        # Changes are published while the first master's replica takes over, and for a while after
        while change < 20 or failover.is_alive():
            change += 1
            if change == 5:
                failover.start()
            for client_id in workspaces:
                # Each change is published until it lands, as a record is retried until it succeeds; a
                # retry of a publish whose bump landed must not bump again.
                while True:
                    try:
                        version = store.publish(_final(client_id, f"{client_id}-{change}"), _stamp(change))
                        break
                    except TransientError:
                        retried += 1
                assert version == change, f"{client_id}: change {change} published as version {version}"
        failover.join()
        assert replicated_cluster.ports[0] != serving  # the replica took over while the changes went on
        for client_id in workspaces:
            status = store.read_status(JobName.INBOX_COUNTS, client_id)
            assert status is not None and (status.requestId, status.version) == (f"{client_id}-{change}", change)
    finally:
        store.close()
