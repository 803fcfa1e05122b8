"""A version Redis lost comes back without waiting for the workspace's next change: the inbox sweep checks a page
of workspaces' published versions against their committed change stamps each time it runs, through the real
sweeper handler, and puts back each one that is missing or older (a failover that lost the last writes, a restore
from a snapshot)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, new_event, to_body
from shared.contracts.keys import JobName, applied_stamp_key, legacy_applied_stamp_key, version_key
from shared.contracts.settings import EnvVar, RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.topology import FunctionKey
from tests.builders import Workspace
from tests.integration.functions.conftest import own_dead_letter_queues
from tests.integration.functions.harness import AwsFixture, FunctionUnderTest, Telemetry, load_handler

PAGE = 10


@pytest.fixture
def paging_sweeper(function_env: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionUnderTest]:
    monkeypatch.setenv(str(EnvVar.SWEEP_RECONCILE_PAGE_SIZE), str(PAGE))  # before the handler reads it
    own_dead_letter_queues(function_env, FunctionKey.SWEEPER, monkeypatch)
    function = FunctionUnderTest(load_handler("sweeper"), function_env)
    yield function
    function.clients.close()


def inbox_sweep(function: FunctionUnderTest) -> None:
    function.aws.send("sweep", to_body(new_event(EventName.INBOX_COUNTS_SWEEP, source="schedule")))
    assert function.poll("sweep")["failed"] == set()


def lose(raw_redis: redis.Redis, job: JobName, client_id: str, *, back_to: tuple[int, str] | None) -> None:
    """What a failover or a restore does to one workspace's keys: gone, or back at an earlier (version, stamp)."""
    keys = (applied_stamp_key(job, client_id), legacy_applied_stamp_key(job, client_id))
    if back_to is None:
        for key in (version_key(job, client_id), *keys):
            raw_redis.delete(key)
        return
    raw_redis.set(version_key(job, client_id), back_to[0])
    for key in keys:
        raw_redis.set(key, back_to[1])


def test_given_versions_redis_lost_when_the_inbox_sweep_runs_then_each_comes_back_as_it_was(
    paging_sweeper: FunctionUnderTest,
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    raw_redis: redis.Redis,
    telemetry: Telemetry,
) -> None:
    # Given twelve quiet workspaces, published (two pages of the check), one of them changed twice
    workspaces = [Workspace.create(db) for _ in range(PAGE + 2)]
    for ws in workspaces:
        ws.lead()
        Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(ws.id, JobContext("setup", "test"))
    changed = workspaces[0]
    earlier = (changed.inbox_version(), str(raw_redis.get(applied_stamp_key(JobName.INBOX_COUNTS, changed.id))))
    changed.lead()
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(changed.id, JobContext("setup", "test"))
    analytics = workspaces[1]
    Recompute(JobName.ANALYTICS_AGGREGATES, db, cache, settings).run(analytics.id, JobContext("setup", "test"))
    published = {ws.id: raw_redis.get(version_key(JobName.INBOX_COUNTS, ws.id)) for ws in workspaces}
    assert all(published[ws.id] == str(ws.inbox_version()) for ws in workspaces)
    analytics_published = raw_redis.get(version_key(JobName.ANALYTICS_AGGREGATES, analytics.id))
    assert analytics_published == str(analytics.analytics_version(settings.analytics_window_days))
    # When Redis loses writes: the changed workspace back at its earlier version (a restore from a snapshot),
    # the last workspace's keys gone (a failover before the replica had them), and the analytics version gone
    lose(raw_redis, JobName.INBOX_COUNTS, changed.id, back_to=earlier)
    # the second page of the check, in id order (the top two ids), and not the workspace set back above
    last = max((ws for ws in workspaces if ws is not changed), key=lambda ws: ws.id)
    lose(raw_redis, JobName.INBOX_COUNTS, last.id, back_to=None)
    lose(raw_redis, JobName.ANALYTICS_AGGREGATES, analytics.id, back_to=None)
    # And the inbox sweep runs twice, with no change to any workspace
    inbox_sweep(paging_sweeper)
    inbox_sweep(paging_sweeper)
    # Then every version is back as it was published for its committed stamp, the analytics one included,
    current = {ws.id: raw_redis.get(version_key(JobName.INBOX_COUNTS, ws.id)) for ws in workspaces}
    assert current == published
    assert raw_redis.get(version_key(JobName.ANALYTICS_AGGREGATES, analytics.id)) == analytics_published
    # each counted once, and a further round of sweeps finds nothing more to put back
    assert sum(telemetry.metric_values("VersionsRepublished")) == 3
    inbox_sweep(paging_sweeper)
    inbox_sweep(paging_sweeper)
    assert sum(telemetry.metric_values("VersionsRepublished")) == 3
    assert {ws.id: raw_redis.get(version_key(JobName.INBOX_COUNTS, ws.id)) for ws in workspaces} == published
