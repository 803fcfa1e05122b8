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

from recount.servers.redis_cluster import ThrowawayCluster
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import PermanentError, RecountError, TransientError
from shared.contracts.keys import JobName, applied_stamp_key, legacy_applied_stamp_key, version_for_stamp, version_key
from shared.contracts.status import JobContext, JobStatus, StatusBlob
from shared.contracts.store_settings import StoreSettings


def _final(client_id: str, request_id: str) -> StatusBlob:
    started = StatusBlob.start(JobName.INBOX_COUNTS, client_id, JobContext(request_id, "test"), datetime.now(UTC))
    return started.finish(JobStatus.SUCCEEDED)


def _stamp(n: int) -> str:
    return f"2026-11-29T10:{n // 60000:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}"


def _version(n: int) -> int:
    """The version change n's stamp stands for."""
    return version_for_stamp(_stamp(n))


def test_auto_finds_the_cluster_and_a_single_node_alike(redis_cluster_url: str, single_redis_url: str) -> None:
    on_cluster, on_node = RedisStore(redis_cluster_url), RedisStore(single_redis_url)
    try:
        assert on_cluster.publish(_final("acme", "r1"), _stamp(1)) == _version(1)
        assert on_node.publish(_final("acme", "r1"), _stamp(1)) == _version(1)
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


def test_on_one_node_the_later_of_the_old_and_new_applied_stamps_stands_and_a_bump_writes_both(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    new, old = applied_stamp_key(JobName.INBOX_COUNTS, "acme"), legacy_applied_stamp_key(JobName.INBOX_COUNTS, "acme")
    # Given a workspace published by a recount that kept the stamp under the old name only
    raw_redis.set(version_key(JobName.INBOX_COUNTS, "acme"), 5)
    raw_redis.set(old, _stamp(7))
    # When the same stamp is published again, then nothing is bumped; an older one is late
    assert cache.publish(_final("acme", "again"), _stamp(7)) == 5
    assert cache.publish(_final("acme", "older"), _stamp(6)) == 5
    # and a newer one bumps once and writes both names (a rolled-back recount reads the old one)
    assert cache.publish(_final("acme", "newer"), _stamp(8)) == _version(8)
    assert raw_redis.get(new) == raw_redis.get(old) == _stamp(8)
    # Given the old recount, deployed beside this one, applied a later stamp under the old name only
    raw_redis.set(version_key(JobName.INBOX_COUNTS, "acme"), 7)
    raw_redis.set(old, _stamp(9))
    # Then that stamp is not bumped again
    assert cache.publish(_final("acme", "again"), _stamp(9)) == 7


def test_on_one_node_the_status_is_written_even_when_the_version_went_back(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    for n in (1, 2, 3):
        cache.publish(_final("acme", f"r{n}"), _stamp(n))
    # Given the version and stamps were lost (an eviction, a reset)
    raw_redis.delete(version_key(JobName.INBOX_COUNTS, "acme"), applied_stamp_key(JobName.INBOX_COUNTS, "acme"))
    raw_redis.delete(legacy_applied_stamp_key(JobName.INBOX_COUNTS, "acme"))
    # Then the next publish's status is written all the same (one script: nothing can interleave)
    assert cache.publish(_final("acme", "r4"), _stamp(4)) == _version(4)
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.version) == ("r4", _version(4))


@pytest.fixture
def on_cluster(redis_cluster_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_cluster_url)
    yield store
    store.close()


def test_on_a_cluster_a_publish_never_overwrites_the_status_of_a_newer_version(on_cluster: RedisStore) -> None:
    # Given the status key already holds a newer publish's blob (its bump and status landed between this
    # publish's bump and its status write, two commands on a cluster)
    newer = _final("acme", "newer").model_copy(update={"version": _version(2)})
    on_cluster.write_status(newer)
    # When this publish bumps and writes its status
    assert on_cluster.publish(_final("acme", "older"), _stamp(1)) == _version(1)
    # Then the newer status stays
    status = on_cluster.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.version) == ("newer", _version(2))


def test_a_cluster_once_found_stays_found_after_its_connections_are_dropped(on_cluster: RedisStore) -> None:
    on_cluster.publish(_final("acme", "r1"), _stamp(1))
    on_cluster.close()  # what a failover's READONLY does to the client
    before = on_cluster.commands
    assert on_cluster.publish(_final("acme", "r2"), _stamp(2)) == _version(2)
    assert on_cluster.in_cluster_mode and on_cluster.commands - before == 2  # bump and status, no single-node try


def test_told_a_cluster_that_is_one_node_the_store_says_so_in_one_line(single_redis_url: str) -> None:
    store = RedisStore(single_redis_url.rsplit("/", 1)[0] + "/0", cluster="true")
    with pytest.raises(TransientError, match=r"^redis unavailable: .*[Cc]luster mode is not enabled") as raised:
        store.read_version(JobName.INBOX_COUNTS, "acme")
    assert "\n" not in str(raised.value)


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
        assert store.read_version(JobName.INBOX_COUNTS, "acme") == _version(1)
        assert store.read_status(JobName.INBOX_COUNTS, "acme") is None
        # When the record is retried with the same committed stamp
        assert store.publish(_final("acme", "retry"), _stamp(1)) == _version(1)
        # Then the version moved once, and the status ends right
        status = store.read_status(JobName.INBOX_COUNTS, "acme")
        assert status is not None and (status.requestId, status.version) == ("retry", _version(1))
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
                assert version == _version(change), f"{client_id}: change {change} published as version {version}"
        failover.join()
        assert replicated_cluster.ports[0] != serving  # the replica took over while the changes went on
        for client_id in workspaces:
            status = store.read_status(JobName.INBOX_COUNTS, client_id)
            assert status is not None and (status.requestId, status.version) == (
                f"{client_id}-{change}",
                _version(change),
            )
    finally:
        store.close()


def test_auto_finds_a_cluster_on_the_sweeps_first_read_of_versions(redis_cluster_url: str) -> None:
    # Given a fresh environment on a cluster with REDIS_CLUSTER=auto, whose first command is the sweep's MGET
    store = RedisStore(redis_cluster_url)
    try:
        ids = [f"ws-{n}" for n in range(8)]  # over the three masters' slots: the MGET's keys cross slots
        # Then the CROSSSLOT answer switches it to the cluster client, and every lost version is put back
        assert sorted(store.republish(JobName.INBOX_COUNTS, dict.fromkeys(ids, _stamp(1)))) == sorted(ids)
        assert store.in_cluster_mode
        assert {store.read_version(JobName.INBOX_COUNTS, client_id) for client_id in ids} == {_version(1)}
    finally:
        store.close()
