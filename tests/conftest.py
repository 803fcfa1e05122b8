"""Shared fixtures: an isolated PostgreSQL database per test run and a Redis database emptied per test."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from recount.migrations import migrate
from recount.servers.redis_cluster import ThrowawayCluster
from recount.servers.throwaway import ThrowawayServers, free_port
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.settings import RecomputeSettings
from tests.builders import Workspace
from tests.integration.credentials import PasswordDatabase

ADMIN_DATABASE_URL = os.environ.get("RECOUNT_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("RECOUNT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
APP_TABLES = '"Client", "Lead", "Message", "AIDraft", "InboxCounts", "InboxCountsDirty", "AnalyticsDailyAggregates"'


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    """A handler whose import fails in a test (tests/unit/test_time_budget.py) leaves the collector paused
    (shared/coldstart.py), where Lambda would end the process: on again for the tests after it."""
    collecting = gc.isenabled()
    yield
    if collecting and not gc.isenabled():
        gc.enable()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database created for this run, migrated, and dropped at the end."""
    name = f"recount_test_{uuid.uuid4().hex[:12]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_DATABASE_URL.rpartition("/")
    url = f"{base}/{name}"
    db = PostgresDatabase(url)
    migrate(db)
    db.close()
    yield url
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def db(database_url: str) -> Iterator[PostgresDatabase]:
    """A connection to an empty schema."""
    database = PostgresDatabase(database_url)
    database.run(f"TRUNCATE {APP_TABLES} CASCADE")
    yield database
    database.close()


@pytest.fixture
def other_db(database_url: str) -> Iterator[PostgresDatabase]:
    """A second connection, for races."""
    database = PostgresDatabase(database_url)
    yield database
    database.close()


@pytest.fixture
def single_redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    client.close()
    return TEST_REDIS_URL


@pytest.fixture
def redis_url(single_redis_url: str) -> str:
    """One Redis node's database, emptied for this test (a module may override it with `either_redis_url`)."""
    return single_redis_url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayCluster]:
    """Three masters on loopback, started the first time a test asks for them."""
    cluster = ThrowawayCluster.on_free_ports(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: ThrowawayCluster) -> str:
    """The cluster, emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture(params=["one node", "cluster"])
def either_redis_url(request: pytest.FixtureRequest) -> str:
    """A module whose Redis tests must hold on both kinds of server overrides `redis_url` with this."""
    return str(request.getfixturevalue("single_redis_url" if request.param == "one node" else "redis_cluster_url"))


@pytest.fixture
def cache(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url)
    yield store
    store.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis | redis.RedisCluster]:
    """The test's own client on the same server: a cluster client when the server is a cluster."""
    probe = redis.Redis.from_url(redis_url, decode_responses=True)
    clustered = probe.info("cluster").get("cluster_enabled") == 1
    probe.close()
    client = redis.RedisCluster.from_url(redis_url, decode_responses=True) if clustered else probe
    yield client
    client.close()


@pytest.fixture
def settings() -> RecomputeSettings:
    return RecomputeSettings(ANALYTICS_WINDOW_DAYS=30, ANALYTICS_AGGREGATES_ENABLED=True, STATUS_TTL_SECONDS=3600)


@pytest.fixture
def workspace(db: PostgresDatabase) -> Workspace:
    return Workspace.create(db)


@pytest.fixture
def read_only_replica(tmp_path: Path) -> Iterator[int]:
    """A real Redis replica whose primary is unreachable: it answers, and refuses every write with READONLY,
    as a demoted primary does while a failover's endpoint has not moved yet."""
    servers = ThrowawayServers(tmp_path / "replica")
    port = free_port()
    servers.start_redis(port, replica_of=("127.0.0.1", 1))
    yield port
    servers.stop_redis()


@pytest.fixture(scope="session")
def scram_server() -> Iterator[str]:
    """A PostgreSQL that checks passwords (SCRAM over TCP), started the first time a test asks for it; the
    superuser's URL. Its directory is outside pytest's (private to root) so an unprivileged server can use it."""
    directory = Path(tempfile.mkdtemp(prefix="recount-scram-"))
    servers = ThrowawayServers(directory)
    try:
        yield servers.start_postgres(free_port(), password=f"superuser-{uuid.uuid4().hex[:12]}")
    finally:
        servers.stop_postgres()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def password_database(scram_server: str) -> Iterator[PasswordDatabase]:
    """A migrated database of its own on the SCRAM server, owned by a role whose password the test rotates."""
    database = PasswordDatabase.create(scram_server)
    yield database
    database.drop()


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of its own that requires a password (`requirepass first-password`); its URL without one."""
    servers = ThrowawayServers(tmp_path / "password-redis")
    url = servers.start_redis(free_port())
    client = redis.Redis.from_url(url)
    client.config_set("requirepass", "first-password")
    client.close()
    yield url
    servers.stop_redis()
