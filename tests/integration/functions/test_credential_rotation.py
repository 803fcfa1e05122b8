"""A password rotated while the inbox function's environment is warm, through the real handler: no valid message
is dead-lettered, and the work completes on the new password.

The stores check passwords for real (a PostgreSQL with SCRAM, a Redis with `requirepass`, each started for the
test); their URLs are in moto's Secrets Manager. A rotation changes the store's password, then the secret's
current value (Secrets Manager's setSecret, then finishSecret), and closes the environment's connections, so
that its next one must authenticate again. Between the two steps (the window), the secret still holds the old
password: the record is retried, never dead-lettered, and completes once the secret holds the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from moto import mock_aws

from recount.servers.redis_cluster import ThrowawayCluster
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.adapters.secrets import SecretUrl
from shared.contracts.errors import TransientError
from shared.contracts.settings import EnvVar
from shared.topology import FunctionKey
from tests.builders import Workspace
from tests.integration.credentials import PasswordDatabase, create_secret, put_secret, rotate_redis_password
from tests.integration.functions.conftest import SETTINGS
from tests.integration.functions.harness import (
    TABLE,
    AwsFixture,
    FunctionUnderTest,
    create_queues,
    create_table,
    environment,
    load_handler,
)
from tests.integration.functions.test_inbox_function import dirty_body

REGION = "us-east-1"
MAX_RECEIVE_COUNT = 5  # the stages' least (infra.config): the queue's redrive dead-letters on the fifth receive
STORE_VARIABLES = (EnvVar.DATABASE_URL, EnvVar.DATABASE_SECRET_ARN, EnvVar.REDIS_URL, EnvVar.REDIS_SECRET_ARN)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFixture]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        yield AwsFixture(sqs, dynamodb, create_queues(sqs, MAX_RECEIVE_COUNT), TABLE, MAX_RECEIVE_COUNT)


@pytest.fixture
def secrets(aws: AwsFixture) -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def start_function(aws: AwsFixture, monkeypatch: pytest.MonkeyPatch, stores: dict[EnvVar, str]) -> FunctionUnderTest:
    """The inbox function with its environment as the stack builds it, its stores given by `stores` (a URL or
    a secret's ARN for each)."""
    for name, value in environment(aws, FunctionKey.INBOX, "", "", SETTINGS).items():
        if name not in STORE_VARIABLES:
            monkeypatch.setenv(name, value)
    for variable in STORE_VARIABLES:
        monkeypatch.delenv(str(variable), raising=False)
    for variable, value in stores.items():
        monkeypatch.setenv(str(variable), value)
    return FunctionUnderTest(load_handler("inbox_counts_recompute"), aws)


def dirty_workspace(app: PostgresDatabase, leads: int) -> Workspace:
    workspace = Workspace.create(app)
    for _ in range(leads):
        workspace.lead(assignedToUserId="setter-1")
    workspace.mark_dirty()
    return workspace


def deliver_until_handled(function: FunctionUnderTest, *, receives: int = 1) -> list[str]:
    """Deliver the counts queue `receives` times (each backoff fast-forwarded), or until it is empty: what the
    handler said of the record each time."""
    said: list[str] = []
    while len(said) < receives and "handled" not in said:
        function.aws.make_visible("counts")
        queue = function.aws.queues["counts"]
        if function.aws.depth(queue.url) == (0, 0):
            break
        said.append("retry" if function.poll("counts")["failed"] else "handled")
    return said


def assert_completed(function: FunctionUnderTest, workspace: Workspace, versions: redis.Redis) -> None:
    """Counted, the mark cleared, its stamp's version published with its status, nothing left in the queue or its
    DLQ."""
    assert workspace.counts()["global"]["total"] == 2
    assert workspace.dirty_marker() is None
    assert versions.get(f"inbox:v1:ver:{workspace.id}") == str(workspace.inbox_version())
    status = json.loads(versions.get(f"job:v1:{workspace.id}:inbox_counts") or "{}")
    assert status["status"] == "succeeded" and status["version"] == workspace.inbox_version()
    queue = function.aws.queues["counts"]
    assert function.aws.depth(queue.url) == (0, 0)
    assert function.aws.depth(queue.dlq_url) == (0, 0), "a valid message was dead-lettered"


def last_error(versions: redis.Redis, workspace: Workspace) -> str:
    return str(json.loads(versions.get(f"job:v1:{workspace.id}:inbox_counts") or "{}").get("lastError"))


# -- PostgreSQL ---------------------------------------------------------------------------------------------------
@pytest.fixture
def app(password_database: PasswordDatabase) -> Iterator[PostgresDatabase]:
    """The app's writes and the test's reads, as the superuser (whose password never rotates)."""
    database = PostgresDatabase(password_database.admin_url)
    yield database
    database.close()


def test_given_a_warm_environment_when_the_database_password_rotates_then_the_work_completes_on_the_new_one(
    aws: AwsFixture,
    secrets: Any,
    password_database: PasswordDatabase,
    app: PostgresDatabase,
    raw_redis: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = create_secret(secrets, password_database.url())
    function = start_function(aws, monkeypatch, {EnvVar.DATABASE_SECRET_ARN: arn, EnvVar.REDIS_URL: redis_url})
    try:
        # Given a warm environment: a message handled, its session open
        warm = dirty_workspace(app, leads=2)
        function.aws.send("counts", dirty_body(warm.id))
        assert deliver_until_handled(function) == ["handled"]
        # When the password rotates (the database, then the secret) and the environment's session ends
        password_database.rotate("second-password")
        put_secret(secrets, arn, password_database.url())
        assert password_database.end_sessions() == 1
        workspace = dirty_workspace(app, leads=2)
        function.aws.send("counts", dirty_body(workspace.id))
        said = deliver_until_handled(function, receives=MAX_RECEIVE_COUNT)
        # Then the ended session and the refused password are each retried once, and the work completes on the
        # new password (the old one is refused): no dead letter
        assert said == ["retry", "retry", "handled"]
        assert_completed(function, workspace, raw_redis)
    finally:
        function.clients.close()


def test_given_the_secret_not_yet_rotated_then_the_record_is_retried_and_completes_once_it_is(
    aws: AwsFixture,
    secrets: Any,
    password_database: PasswordDatabase,
    app: PostgresDatabase,
    raw_redis: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = create_secret(secrets, password_database.url())
    old_url = password_database.url()
    function = start_function(aws, monkeypatch, {EnvVar.DATABASE_SECRET_ARN: arn, EnvVar.REDIS_URL: redis_url})
    try:
        warm = dirty_workspace(app, leads=2)
        function.aws.send("counts", dirty_body(warm.id))
        assert deliver_until_handled(function) == ["handled"]
        # Given the database's password rotated while the secret still holds the old one (the rotation's window)
        password_database.rotate("second-password")
        assert password_database.end_sessions() == 1
        workspace = dirty_workspace(app, leads=2)
        function.aws.send("counts", dirty_body(workspace.id))
        # When the record comes three times: the ended session, then the old password twice (each read again)
        assert deliver_until_handled(function, receives=3) == ["retry", "retry", "retry"]
        assert last_error(raw_redis, workspace).startswith("postgres 28P01: ")
        assert function.aws.depth(function.aws.queues["counts"].dlq_url) == (0, 0)
        assert workspace.dirty_marker() is not None and workspace.counts() == {}
        # And then the secret holds the new password: the next receive reads it and completes
        put_secret(secrets, arn, password_database.url())
        assert password_database.url() != old_url
        assert deliver_until_handled(function) == ["handled"]
        assert_completed(function, workspace, raw_redis)
    finally:
        function.clients.close()


# -- Redis --------------------------------------------------------------------------------------------------------
def with_password(url: str, password: str) -> str:
    return url.replace("redis://", f"redis://:{password}@", 1)


@pytest.mark.parametrize("window", [False, True], ids=["rotated", "secret-late"])
def test_given_a_warm_environment_when_the_redis_password_rotates_then_no_dead_letter(
    aws: AwsFixture,
    secrets: Any,
    password_redis: str,
    db: PostgresDatabase,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    window: bool,
) -> None:
    arn = create_secret(secrets, with_password(password_redis, "first-password"))
    function = start_function(aws, monkeypatch, {EnvVar.DATABASE_URL: database_url, EnvVar.REDIS_SECRET_ARN: arn})
    try:
        warm = dirty_workspace(db, leads=2)
        function.aws.send("counts", dirty_body(warm.id))
        assert deliver_until_handled(function) == ["handled"]
        # When requirepass changes and the environment's connections are closed (the secret now, or later)
        rotate_redis_password(password_redis, "first-password", "second-password")
        if not window:
            put_secret(secrets, arn, with_password(password_redis, "second-password"))
        workspace = dirty_workspace(db, leads=2)
        function.aws.send("counts", dirty_body(workspace.id))
        if window:
            # Refused (WRONGPASS) with the old password, then with it read again: retried, not dead-lettered
            assert deliver_until_handled(function, receives=2) == ["retry", "retry"]
            assert function.aws.depth(function.aws.queues["counts"].dlq_url) == (0, 0)
            put_secret(secrets, arn, with_password(password_redis, "second-password"))
        # Then the next receive reads the secret again, makes a new client, and completes
        assert deliver_until_handled(function, receives=MAX_RECEIVE_COUNT) == ["retry", "handled"][window:]
        versions = redis.Redis.from_url(with_password(password_redis, "second-password"), decode_responses=True)
        try:
            assert_completed(function, workspace, versions)
        finally:
            versions.close()
    finally:
        function.clients.close()


def test_given_no_password_in_the_secret_when_redis_requires_one_then_noauth_is_transient_and_read_again(
    aws: AwsFixture, secrets: Any, password_redis: str
) -> None:
    # Given a secret whose URL has no password, for a Redis that requires one
    arn = create_secret(secrets, password_redis)
    store = RedisStore(SecretUrl(arn, scheme="rediss"), timeout_s=1)
    try:
        # When a command is sent: NOAUTH, transient
        with pytest.raises(TransientError, match="Authentication required"):
            store.ping()
        # Then, once the secret holds the password, the next command reads it and is answered
        put_secret(secrets, arn, with_password(password_redis, "first-password"))
        store.ping()
    finally:
        store.close()


@pytest.fixture
def password_cluster(tmp_path: Path) -> Iterator[ThrowawayCluster]:
    """A Redis Cluster of its own whose nodes require a password (`first-password`)."""
    cluster = ThrowawayCluster.on_free_ports(tmp_path / "password-cluster")
    try:
        cluster.start()
        for port in cluster.ports:
            node = redis.Redis(port=port)
            node.config_set("requirepass", "first-password")
            node.close()
        yield cluster
    finally:
        cluster.stop()


def test_given_a_cluster_when_its_password_rotates_then_the_store_reads_the_secret_again(
    aws: AwsFixture, secrets: Any, password_cluster: ThrowawayCluster
) -> None:
    # Given a cluster client made from the secret (REDIS_CLUSTER=true), answering
    arn = create_secret(secrets, with_password(password_cluster.url, "first-password"))
    store = RedisStore(SecretUrl(arn, scheme="rediss"), timeout_s=1, cluster="true")
    try:
        store.ping()
        # When every node's password rotates and their connections are closed: refused, transient
        for port in password_cluster.ports:
            rotate_redis_password(f"redis://127.0.0.1:{port}/0", "first-password", "second-password")
        with pytest.raises(TransientError, match="invalid username-password pair"):
            store.ping()
        # And a new client, made from the secret read again while it still holds the old password (no node takes
        # it: redis-py wraps the refusal as it makes the client), is refused too
        with pytest.raises(TransientError, match="invalid username-password pair"):
            store.ping()
        # Then, once the secret holds the new password, the next command reads it and is answered
        put_secret(secrets, arn, with_password(password_cluster.url, "second-password"))
        store.ping()
        assert store.in_cluster_mode
    finally:
        store.close()


def test_given_a_secret_edited_into_something_unreadable_then_reading_it_again_is_transient(
    aws: AwsFixture, secrets: Any, password_redis: str
) -> None:
    # Given a store whose secret was read at start
    arn = create_secret(secrets, with_password(password_redis, "first-password"))
    url = SecretUrl(arn, scheme="rediss")
    assert url.current() == with_password(password_redis, "first-password")
    # When it is read again (credentials refused) after a hand edit left it neither a URL nor JSON
    put_secret(secrets, arn, "second-password")
    # Then the error is transient (the environment's, not the record's: the record is retried, not dead-lettered)
    with pytest.raises(TransientError, match=r"^secret .* read again: secret is neither a URL nor JSON$"):
        url.refresh()
