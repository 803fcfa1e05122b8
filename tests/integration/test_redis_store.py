"""The version bump against a real Redis: idempotent per change stamp, never moved back by a late publish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.status import JobContext, JobStatus, StatusBlob


@pytest.fixture
def redis_url(either_redis_url: str) -> str:
    """Every test here runs on one Redis node and on a three-master Redis Cluster."""
    return either_redis_url


def _final(client_id: str, request_id: str) -> StatusBlob:
    started = StatusBlob.start(JobName.INBOX_COUNTS, client_id, JobContext(request_id, "test"), datetime.now(UTC))
    return started.finish(JobStatus.SUCCEEDED)


def test_a_new_stamp_bumps_once_and_a_repeat_does_not(cache: RedisStore, raw_redis: redis.Redis) -> None:
    assert cache.publish(_final("acme", "r1"), "2026-11-29T10:00:00.001") == 1
    assert cache.publish(_final("acme", "r2"), "2026-11-29T10:00:00.001") == 1
    assert cache.publish(_final("acme", "r3"), "2026-11-29T10:00:00.002") == 2
    assert raw_redis.get("inbox:v1:ver:acme") == "2"
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and status.requestId == "r3" and status.version == 2


def test_a_late_publish_of_an_older_stamp_neither_bumps_nor_overwrites(cache: RedisStore) -> None:
    # Given B's newer stamp published, when A's older commit publishes late, then nothing moves back
    assert cache.publish(_final("acme", "B"), "2026-11-29T10:00:00.005") == 1
    assert cache.publish(_final("acme", "A"), "2026-11-29T10:00:00.004") == 1
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and status.requestId == "B"
    # and B's redelivery, unchanged, does not bump either
    assert cache.publish(_final("acme", "B-again"), "2026-11-29T10:00:00.005") == 1


def test_the_status_blob_has_a_ttl(cache: RedisStore, raw_redis: redis.Redis) -> None:
    cache.publish(_final("acme", "r1"), "2026-11-29T10:00:00.001")
    assert 0 < raw_redis.ttl("job:v1:acme:inbox_counts") <= 86_400
    assert raw_redis.ttl("inbox:v1:ver:acme") == -1  # the version never expires


def test_a_late_publish_still_ends_its_own_running_status_and_only_its_own(cache: RedisStore) -> None:
    # Given B's newer stamp published, then job A starts (its lock query read the older stamp, just before B's
    # commit) and writes its `running` status over B's
    assert cache.publish(_final("acme", "B"), "2026-11-29T10:00:00.005") == 1
    started = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("A", "test"), datetime.now(UTC))  # no id
    cache.write_status(started)
    # When A ends as a duplicate skip publishing the older stamp
    assert cache.publish(started.finish(JobStatus.SKIPPED, reason="duplicate"), "2026-11-29T10:00:00.004") == 1
    # Then its status is final (not left at running), with the current version, and nothing was bumped
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.status, status.version) == ("A", JobStatus.SKIPPED, 1)
    # But a late publish never ends another job's running status
    other = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("C", "test", "m-C"), datetime.now(UTC))
    cache.write_status(other)
    cache.publish(_final("acme", "A-late"), "2026-11-29T10:00:00.004")
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.status) == ("C", JobStatus.RUNNING)


def test_a_late_publish_over_a_corrupt_or_foreign_status_key_neither_fails_nor_touches_it(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    assert cache.publish(_final("acme", "B"), "2026-11-29T10:00:00.005") == 1
    raw_redis.set("job:v1:acme:inbox_counts", "not json")
    assert cache.publish(_final("acme", "A"), "2026-11-29T10:00:00.004") == 1
    assert raw_redis.get("job:v1:acme:inbox_counts") == "not json"
    raw_redis.delete("job:v1:acme:inbox_counts")
    raw_redis.hset("job:v1:acme:inbox_counts", "status", "running")
    assert cache.publish(_final("acme", "A"), "2026-11-29T10:00:00.004") == 1
    assert raw_redis.type("job:v1:acme:inbox_counts") == "hash"
