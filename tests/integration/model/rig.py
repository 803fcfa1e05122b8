"""The rig the model-based test and the fault table drive the real inbox function with.

moto's SQS and DynamoDB in process (queues with their redrive policies, the idempotency table), real PostgreSQL
and Redis (Redis, and on request PostgreSQL, reached by the function through a `ToggleProxy` the test can cut),
the handler module loaded as the functions' conftest loads it, and the helpers that land a fault at a chosen
step of a job:

* `invoke_blocked` runs one invocation in a thread while another connection holds a row lock the job's
  recompute statement needs, waits until the statement really waits on it, acts (kill the backend, cut Redis,
  drop the idempotency table...), then releases the lock;
* `drop_table` / `restore_table` take the idempotency table away and bring it back with its records.

Nothing here replaces SQL, Redis or the handler: faults are real outages, real lock waits, real backend
terminations, or responses injected where moto itself answers (DynamoDB cannot throttle in moto).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import redis
from moto import mock_aws

from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.errors import RecountError
from shared.contracts.settings import EnvVar
from shared.contracts.time_budget import AwsCallLimits, decision_reserve_ms
from shared.topology import FunctionKey
from shared.wiring.clients import EnvironmentClients
from tests.integration.functions.harness import (
    TABLE,
    AwsFixture,
    FunctionUnderTest,
    create_queues,
    create_table,
    environment,
    load_handler,
)

REGION = "us-east-1"
SETTINGS: dict[EnvVar | str, object] = {
    EnvVar.ANALYTICS_AGGREGATES_ENABLED: "true",
    EnvVar.BACKOFF_BASE_SECONDS: 1,
    EnvVar.BACKOFF_MAX_SECONDS: 8,
    EnvVar.BUSY_DELAY_SECONDS: 0,  # a busy copy waits the minimum SQS delay the consumer allows: 1 s
    EnvVar.SWEEP_MIN_AGE_SECONDS: 0,
    EnvVar.SWEEP_AUDIT_WORKSPACES: 0,  # its random full passes would keep a drained pipeline busy (tested apart)
    EnvVar.CONNECT_TIMEOUT_SECONDS: 0.3,
    EnvVar.REDIS_TIMEOUT_SECONDS: 0.2,  # loopback: a Redis command then may take 1.8 s at worst
    # moto runs in process (no network to wait on or retry over): short AWS bounds keep the deadlines short
    EnvVar.AWS_CONNECT_TIMEOUT_SECONDS: 0.1,
    EnvVar.AWS_READ_TIMEOUT_SECONDS: 0.4,
    EnvVar.AWS_MAX_ATTEMPTS: 1,
}
# The margin covers what may follow a record's work with these bounds, as it must in Lambda
MARGIN_MS = decision_reserve_ms(0.2, AwsCallLimits(0.1, 0.4, 1))
SETTINGS[EnvVar.TIME_BUDGET_MARGIN_MS] = MARGIN_MS
APP_TABLES = '"Client", "Lead", "Message", "AIDraft", "InboxCounts", "InboxCountsDirty", "AnalyticsDailyAggregates"'
# recount's capture tables (sql/005_lead_capture.sql): the lead changes have no foreign key to "Client"
RECOUNT_TABLES = "recount_lead_change, recount_lead_state, recount_state"
BLOCK_DEADLINE_S = 1.5  # below the function's 2 s lock_timeout: the statement must still be waiting when we act


@dataclass
class Rig:
    aws: AwsFixture
    function: FunctionUnderTest
    database_url: str
    redis_url: str  # direct: what the test reads and writes with
    redis_proxy: ToggleProxy | None  # what the function reaches Redis through, when asked for
    postgres_proxy: ToggleProxy | None  # what the function reaches PostgreSQL through, when asked for
    observer: PostgresDatabase  # reads, pg_locks, pg_terminate_backend
    holder: PostgresDatabase  # holds row locks and advisory locks (the "other worker")
    app: PostgresDatabase  # the app's writes
    raw_redis: redis.Redis
    cache: RedisStore  # a direct RedisStore (the other worker's)
    sweeper: EnvironmentClients  # a second execution environment for sweeps, built from the same environment

    def reset(self) -> None:
        """Empty tables, Redis database, queues and idempotency table (the model runs many examples per test)."""
        for proxy in (self.redis_proxy, self.postgres_proxy):
            if proxy is not None:
                proxy.up()
        # A connection the previous example's outage cut may still sit in the function's pool: a ping clears it out
        # before a step needs it.
        with contextlib.suppress(RecountError):
            self.function.clients.versions.ping()
        self.holder.rollback()
        self.observer.run(f"TRUNCATE {APP_TABLES}, {RECOUNT_TABLES} CASCADE")
        self.raw_redis.flushdb()
        recreate_queues(self.aws)
        with contextlib.suppress(Exception):
            self.aws.dynamodb.delete_table(TableName=self.aws.table_name)
        create_table(self.aws.dynamodb, self.aws.table_name)
        self.function.sqs.log.clear()


def recreate_queues(aws: AwsFixture) -> None:
    """Empty every queue, delayed messages included (moto allows one PurgeQueue a minute; a queue deleted and
    created again under its name keeps its URL and ARN, so the function's environment stays valid)."""
    for queue in aws.queues.values():
        aws.sqs.delete_queue(QueueUrl=queue.url)
        aws.sqs.delete_queue(QueueUrl=queue.dlq_url)
    fresh = create_queues(aws.sqs, aws.max_receive_count)
    assert {key: (q.url, q.arn, q.dlq_url) for key, q in fresh.items()} == {
        key: (q.url, q.arn, q.dlq_url) for key, q in aws.queues.items()
    }
    aws.handed_out.clear()


def function_environment(aws: AwsFixture, database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The inbox function's environment as the stack builds it, with the rig's faster retries."""
    values = environment(aws, FunctionKey.INBOX, database_url, redis_url, SETTINGS)
    return {str(name): value for name, value in {**values, **overrides}.items()}


@contextlib.contextmanager
def open_rig(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    *,
    max_receive_count: int,
    proxy_redis: bool = False,
    proxy_postgres: bool = False,
) -> Iterator[Rig]:
    """The rig; with proxy_redis / proxy_postgres the function reaches that store through a ToggleProxy. Only where
    an outage is the point: the scenarios that terminate backends must not depend on how the proxy relays a
    server's close (a direct connection sees it at once)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        aws = AwsFixture(sqs, dynamodb, create_queues(sqs, max_receive_count), TABLE, max_receive_count)
        create_table(dynamodb, TABLE)
        redis_proxy = proxy_to(redis_url) if proxy_redis else None
        postgres_proxy = proxy_to(database_url) if proxy_postgres else None
        function_database_url = through(database_url, postgres_proxy) if postgres_proxy else database_url
        function_redis_url = through(redis_url, redis_proxy) if redis_proxy else redis_url
        for name, value in function_environment(aws, function_database_url, function_redis_url).items():
            monkeypatch.setenv(name, value)
        function = FunctionUnderTest(load_handler("inbox_counts_recompute"), aws)
        rig = Rig(
            aws=aws,
            function=function,
            database_url=database_url,
            redis_url=redis_url,
            redis_proxy=redis_proxy,
            postgres_proxy=postgres_proxy,
            observer=PostgresDatabase(database_url),
            holder=PostgresDatabase(database_url),
            app=PostgresDatabase(database_url),
            raw_redis=redis.Redis.from_url(redis_url, decode_responses=True),
            cache=RedisStore(redis_url),
            sweeper=EnvironmentClients(),
        )
        try:
            yield rig
        finally:
            function.clients.close()
            rig.sweeper.close()
            for database in (rig.observer, rig.holder, rig.app):
                database.close()
            rig.cache.close()
            rig.raw_redis.close()
            for proxy in (redis_proxy, postgres_proxy):
                if proxy is not None:
                    proxy.close()


# -- idempotency table --------------------------------------------------------------------------------------
def table_items(aws: AwsFixture) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": aws.table_name}
    while True:
        page = aws.dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def drop_table(aws: AwsFixture) -> list[dict[str, Any]]:
    """Take the idempotency table away (every call then fails with ResourceNotFoundException); returns its items."""
    items = table_items(aws)
    aws.dynamodb.delete_table(TableName=aws.table_name)
    return items


def restore_table(aws: AwsFixture, items: list[dict[str, Any]]) -> None:
    if aws.table_name not in aws.dynamodb.list_tables()["TableNames"]:
        create_table(aws.dynamodb, aws.table_name)
    for item in items:
        aws.dynamodb.put_item(TableName=aws.table_name, Item=item)


# -- a fault at a chosen step of a job ----------------------------------------------------------------------
def backend_pid(function: FunctionUnderTest) -> int:
    """The PostgreSQL backend of the function's connection (opened now if it has none)."""
    return int(function.clients.db.run("SELECT pg_backend_pid() AS pid")[0]["pid"])


def wait_until_waiting(observer: PostgresDatabase, pid: int, future: Future[Any]) -> None:
    deadline = time.monotonic() + BLOCK_DEADLINE_S
    while not observer.run("SELECT count(*) AS n FROM pg_locks WHERE pid = :pid AND NOT granted", pid=pid)[0]["n"]:
        if future.done():
            raise AssertionError(
                "the invocation ended without its recompute statement waiting on the held lock "
                f"(skipped before any statement, or failed earlier): {future.result()}"
            )
        assert time.monotonic() < deadline, "the recompute statement never waited on the held lock"
        time.sleep(0.003)


def invoke_blocked(
    rig: Rig, event: dict[str, Any], context: Any, *, pid: int, act: Callable[[], object], release: str = "ROLLBACK"
) -> dict[str, Any]:
    """Invoke while `rig.holder` holds a row lock the recompute statement needs (its transaction is already
    open): wait until the statement waits on it, `act()`, then end the holder's transaction with `release`."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(rig.function.invoke, event, context)
        try:
            wait_until_waiting(rig.observer, pid, future)
            act()
        finally:
            rig.holder.run(release)
        return future.result(timeout=30)


def lock_counts_or_marker(rig: Rig, client_id: str) -> str:
    """Open a transaction on `rig.holder` that locks the workspace's global InboxCounts row (which every
    recompute of an existing workspace upserts) or, before its first computation, its dirty marker row, or with
    neither (a workspace whose changes only the triggers recorded) its "Client" row, which the first insert of
    its counts checks its foreign key against. Returns which one it locked."""
    rig.holder.run("BEGIN")
    if rig.holder.run('SELECT 1 FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal" FOR UPDATE', id=client_id):
        return "InboxCounts"
    if rig.holder.run('SELECT 1 FROM "InboxCountsDirty" WHERE "clientId" = :id FOR UPDATE', id=client_id):
        return "InboxCountsDirty"
    if rig.holder.run('SELECT 1 FROM "Client" WHERE id = :id FOR UPDATE', id=client_id):
        return "Client"
    rig.holder.run("ROLLBACK")
    raise AssertionError(f"{client_id} does not exist: nothing for its recompute to wait on")
