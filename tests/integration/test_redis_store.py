"""The version bump against a real Redis: the version its change stamp stands for, idempotent per stamp, never
moved back by a late publish, never repeated after Redis lost a write, and put back by the sweep's republish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import VERSION_ROOM, JobName, version_for_stamp
from shared.contracts.status import JobContext, JobStatus, StatusBlob


@pytest.fixture
def redis_url(either_redis_url: str) -> str:
    """Every test here runs on one Redis node and on a three-master Redis Cluster."""
    return either_redis_url


def _final(client_id: str, request_id: str) -> StatusBlob:
    started = StatusBlob.start(JobName.INBOX_COUNTS, client_id, JobContext(request_id, "test"), datetime.now(UTC))
    return started.finish(JobStatus.SUCCEEDED)


FIRST, SECOND, THIRD = "2026-11-29T10:00:00.001", "2026-11-29T10:00:00.002", "2026-11-29T10:00:00.003"
LATE, NEWER = "2026-11-29T10:00:00.004", "2026-11-29T10:00:00.005"


def test_a_new_stamp_bumps_once_and_a_repeat_does_not(cache: RedisStore, raw_redis: redis.Redis) -> None:
    assert version_for_stamp(FIRST) == 1_795_946_400_001 * VERSION_ROOM  # the stamp's milliseconds since the epoch
    assert cache.publish(_final("acme", "r1"), FIRST) == version_for_stamp(FIRST)
    assert cache.publish(_final("acme", "r2"), FIRST) == version_for_stamp(FIRST)
    assert cache.publish(_final("acme", "r3"), SECOND) == version_for_stamp(SECOND)
    assert raw_redis.get("inbox:v1:ver:acme") == str(version_for_stamp(SECOND))  # an integer the app reads as before
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and status.requestId == "r3" and status.version == version_for_stamp(SECOND)


def test_a_late_publish_of_an_older_stamp_neither_bumps_nor_overwrites(cache: RedisStore) -> None:
    # Given B's newer stamp published, when A's older commit publishes late, then nothing moves back
    assert cache.publish(_final("acme", "B"), NEWER) == version_for_stamp(NEWER)
    assert cache.publish(_final("acme", "A"), LATE) == version_for_stamp(NEWER)
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and status.requestId == "B"
    # and B's redelivery, unchanged, does not bump either
    assert cache.publish(_final("acme", "B-again"), NEWER) == version_for_stamp(NEWER)


def test_the_status_blob_has_a_ttl(cache: RedisStore, raw_redis: redis.Redis) -> None:
    cache.publish(_final("acme", "r1"), FIRST)
    assert 0 < raw_redis.ttl("job:v1:acme:inbox_counts") <= 86_400
    assert raw_redis.ttl("inbox:v1:ver:acme") == -1  # the version never expires


def test_a_late_publish_still_ends_its_own_running_status_and_only_its_own(cache: RedisStore) -> None:
    # Given B's newer stamp published, then job A starts (its lock query read the older stamp, just before B's
    # commit) and writes its `running` status over B's
    assert cache.publish(_final("acme", "B"), NEWER) == version_for_stamp(NEWER)
    started = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("A", "test"), datetime.now(UTC))  # no id
    cache.write_status(started)
    # When A ends as a duplicate skip publishing the older stamp
    assert cache.publish(started.finish(JobStatus.SKIPPED, reason="duplicate"), LATE) == version_for_stamp(NEWER)
    # Then its status is final (not left at running), with the current version, and nothing was bumped
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.status, status.version) == (
        "A",
        JobStatus.SKIPPED,
        version_for_stamp(NEWER),
    )
    # But a late publish never ends another job's running status
    other = StatusBlob.start(JobName.INBOX_COUNTS, "acme", JobContext("C", "test", "m-C"), datetime.now(UTC))
    cache.write_status(other)
    cache.publish(_final("acme", "A-late"), LATE)
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and (status.requestId, status.status) == ("C", JobStatus.RUNNING)


def test_a_late_publish_over_a_corrupt_or_foreign_status_key_neither_fails_nor_touches_it(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    assert cache.publish(_final("acme", "B"), NEWER) == version_for_stamp(NEWER)
    raw_redis.set("job:v1:acme:inbox_counts", "not json")
    assert cache.publish(_final("acme", "A"), LATE) == version_for_stamp(NEWER)
    assert raw_redis.get("job:v1:acme:inbox_counts") == "not json"
    raw_redis.delete("job:v1:acme:inbox_counts")
    raw_redis.hset("job:v1:acme:inbox_counts", "status", "running")
    assert cache.publish(_final("acme", "A"), LATE) == version_for_stamp(NEWER)
    assert raw_redis.type("job:v1:acme:inbox_counts") == "hash"


def test_an_older_writers_incr_never_produces_a_later_version(cache: RedisStore, raw_redis: redis.Redis) -> None:
    # Given FIRST published, then an older recount (during a rollback) bumping SECOND its own way: INCR, once
    assert cache.publish(_final("acme", "new"), FIRST) == version_for_stamp(FIRST)
    incremented = raw_redis.incr("inbox:v1:ver:acme")
    raw_redis.set("inbox:v1:applied:{inbox:v1:ver:acme}", SECOND)
    # Then its value lies between two of recount's versions, and the next change moves past it
    assert version_for_stamp(FIRST) < incremented < version_for_stamp(SECOND)
    assert cache.publish(_final("acme", "again"), SECOND) == incremented  # SECOND is applied: no second move
    assert cache.publish(_final("acme", "next"), THIRD) == version_for_stamp(THIRD)


def test_a_version_already_past_its_stamp_still_changes_with_the_next_change(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    # Given the app's own INCRs past recount's version
    cache.publish(_final("acme", "r1"), FIRST)
    raw_redis.set("inbox:v1:ver:acme", version_for_stamp(SECOND) + 7)
    # Then a new stamp still changes the version, upward
    assert cache.publish(_final("acme", "r2"), SECOND) == version_for_stamp(SECOND) + 8


@pytest.mark.parametrize("loss", ["set back", "deleted"])
def test_after_a_lost_bump_the_next_change_is_a_version_never_seen_and_a_quiet_one_comes_back(
    cache: RedisStore, raw_redis: redis.Redis, loss: str
) -> None:
    # Given versions handed out for FIRST and SECOND, then Redis losing the last bump (a failover before the
    # replica had it, a restore from a snapshot): the version and applied stamp back at FIRST, or gone
    seen = {cache.publish(_final("acme", "r1"), FIRST), cache.publish(_final("acme", "r2"), SECOND)}
    cache.publish(_final("quiet", "q1"), FIRST)
    cache.publish(_final("quiet", "q2"), SECOND)
    for client_id in ("acme", "quiet"):
        version = f"inbox:v1:ver:{client_id}"
        # the applied stamp, and on one node its name from before the hash tag, which a bump writes too
        applied = (f"inbox:v1:applied:{{inbox:v1:ver:{client_id}}}", f"inbox:v1:applied:{client_id}")
        if loss == "set back":
            raw_redis.set(version, version_for_stamp(FIRST))
            for key in applied:
                raw_redis.set(key, FIRST)
        else:
            for key in (version, *applied):
                raw_redis.delete(key)
    # When acme changes again, its version is one never handed out before
    changed = cache.publish(_final("acme", "r3"), THIRD)
    assert changed not in seen and changed > max(seen)
    # And the sweep's republish puts the quiet workspace's version back as it was for its committed stamp
    assert cache.republish(JobName.INBOX_COUNTS, {"quiet": SECOND, "acme": THIRD}) == ["quiet"]
    assert cache.read_version(JobName.INBOX_COUNTS, "quiet") == version_for_stamp(SECOND)
    assert cache.republish(JobName.INBOX_COUNTS, {"quiet": SECOND, "acme": THIRD}) == []  # nothing left behind


def test_a_deployment_from_before_derived_versions_moves_up_and_never_back(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    # Given a version an INCR-only recount left (57, standing for FIRST)
    raw_redis.set("inbox:v1:ver:acme", 57)
    raw_redis.set("inbox:v1:applied:{inbox:v1:ver:acme}", FIRST)
    # Then the same stamp leaves it (no change, no cache miss), the sweep finds nothing to put back,
    assert cache.publish(_final("acme", "retry"), FIRST) == 57
    assert cache.republish(JobName.INBOX_COUNTS, {"acme": FIRST}) == []
    # and the next change moves it up to the derived version
    assert cache.publish(_final("acme", "next"), SECOND) == version_for_stamp(SECOND) > 57


def test_a_late_republish_never_moves_a_version_back(cache: RedisStore) -> None:
    # Given SECOND published after the sweep read FIRST from PostgreSQL
    cache.publish(_final("acme", "r2"), SECOND)
    # When the sweep's republish of FIRST lands
    assert cache.republish(JobName.INBOX_COUNTS, {"acme": FIRST}) == []
    assert cache.read_version(JobName.INBOX_COUNTS, "acme") == version_for_stamp(SECOND)


def test_an_incr_that_reached_the_next_stamps_version_still_sees_the_version_move(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    # Given the app's INCRs landing exactly on the version the next stamp (1 ms later) stands for
    cache.publish(_final("acme", "r1"), FIRST)
    raw_redis.set("inbox:v1:ver:acme", version_for_stamp(SECOND))
    # Then that stamp still moves the version: entries cached under the app's number hold the old counts
    assert cache.publish(_final("acme", "r2"), SECOND) == version_for_stamp(SECOND) + 1


@pytest.mark.parametrize("stored", ["inf", "1e400", "99999999999999999999", "12.5", "not a number"])
def test_a_version_key_holding_what_is_not_recounts_is_put_back_and_moves_on(
    cache: RedisStore, raw_redis: redis.Redis, stored: str
) -> None:
    cache.publish(_final("acme", "r1"), FIRST)
    raw_redis.set("inbox:v1:ver:acme", stored)
    # The same stamp puts back its version, the next one moves on from it, and the blob stays JSON
    assert cache.publish(_final("acme", "again"), FIRST) == version_for_stamp(FIRST)
    assert cache.publish(_final("acme", "r2"), SECOND) == version_for_stamp(SECOND)
    status = cache.read_status(JobName.INBOX_COUNTS, "acme")
    assert status is not None and status.version == version_for_stamp(SECOND)


def test_the_sweep_puts_back_a_lost_version_from_the_applied_stamp_when_it_read_an_older_one(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    # Given SECOND published, then its version key lost, and the sweep reading an older stamp (analytics: the
    # newest change's day has left the window it reads)
    cache.publish(_final("acme", "r2"), SECOND)
    raw_redis.delete("inbox:v1:ver:acme")
    # Then the version the applied stamp stands for comes back, never the older one, and is counted once
    assert cache.republish(JobName.INBOX_COUNTS, {"acme": FIRST}) == ["acme"]
    assert cache.read_version(JobName.INBOX_COUNTS, "acme") == version_for_stamp(SECOND)
    assert cache.republish(JobName.INBOX_COUNTS, {"acme": FIRST}) == []


@pytest.mark.parametrize(
    "stamp",
    ["1970-01-01T00:00:00.000", "2000-02-29T23:59:59.999", "2024-03-01T00:00:00.001", "2100-03-01T12:34:56.789"],
)
def test_the_script_derives_the_same_version_from_a_stamp_as_python(
    cache: RedisStore, raw_redis: redis.Redis, stamp: str
) -> None:
    # A version put back from the applied stamp alone (computed in Lua) equals version_for_stamp's (in Python)
    raw_redis.set("inbox:v1:applied:{inbox:v1:ver:acme}", stamp)
    raw_redis.set("inbox:v1:applied:acme", stamp)
    assert cache.republish(JobName.INBOX_COUNTS, {"acme": "1969-12-31T00:00:00.000"}) == ["acme"]
    assert cache.read_version(JobName.INBOX_COUNTS, "acme") == version_for_stamp(stamp)


def test_a_version_key_of_another_type_is_put_back_and_does_not_stop_the_others(
    cache: RedisStore, raw_redis: redis.Redis
) -> None:
    cache.publish(_final("a", "r1"), FIRST)
    cache.publish(_final("b", "r1"), FIRST)
    raw_redis.delete("inbox:v1:ver:a")
    raw_redis.hset("inbox:v1:ver:a", "x", "1")
    raw_redis.delete("inbox:v1:ver:b")
    assert sorted(cache.republish(JobName.INBOX_COUNTS, {"a": FIRST, "b": FIRST})) == ["a", "b"]
    assert raw_redis.get("inbox:v1:ver:a") == raw_redis.get("inbox:v1:ver:b") == str(version_for_stamp(FIRST))
