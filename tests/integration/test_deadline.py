"""Every store call of a record ends before the record's deadline or is not started: a PostgreSQL statement
gets what is left as its socket timeout; a Redis command or an AWS call whose worst case does not fit is
refused before anything is sent. Real PostgreSQL and Redis; moto in process for SQS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from recount.servers.toggle_proxy import proxy_to, through
from shared import deadline
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.adapters.sqs import QueueClient
from shared.contracts.errors import OutOfTimeError
from shared.contracts.keys import JobName
from shared.contracts.time_budget import REDIS_CONNECTION_STEPS, RESPONSE_RESERVE_S, AwsCallLimits
from shared.deadline import Deadline
from shared.ports import OutgoingMessage


def seconds_from_now(work_s: float, end_s: float | None = None) -> Deadline:
    now = time.monotonic()
    return Deadline(work_at=now + work_s, end_at=now + (end_s if end_s is not None else work_s))


def test_a_record_deadline_keeps_the_margin_and_the_response_reserve_back() -> None:
    before = time.monotonic()
    record = Deadline.for_record(remaining_ms=30_000, margin_ms=22_250)
    assert before + 7.75 - 0.01 <= record.work_at <= time.monotonic() + 7.75
    assert record.end_at - record.work_at == pytest.approx(22.25 - RESPONSE_RESERVE_S, abs=0.001)
    assert record.closing() == Deadline(work_at=record.end_at, end_at=record.end_at)
    # With less left than the margin, the work's deadline has passed before it starts
    late = Deadline.for_record(remaining_ms=1_000, margin_ms=22_250)
    assert late.work_at < time.monotonic() < late.end_at


def test_outside_a_record_nothing_is_checked() -> None:
    assert deadline.left_s() is None
    deadline.ensure(10_000, "anything")


def test_a_postgres_statement_is_cut_at_the_deadline_and_the_next_call_reconnects(database_url: str) -> None:
    database = PostgresDatabase(database_url, statement_timeout_ms=10_000)
    try:
        pid = database.run("SELECT pg_backend_pid() AS pid")[0]["pid"]
        # When a statement that would take 5 s runs with 0.5 s left
        started = time.monotonic()
        with deadline.within(seconds_from_now(0.5)), pytest.raises(OutOfTimeError, match="cut a postgres statement"):
            database.run("SELECT pg_sleep(5)")
        # Then it ends at the deadline, not at its statement timeout, and the session is not reused
        assert 0.45 < time.monotonic() - started < 1.5
        assert database.run("SELECT pg_backend_pid() AS pid")[0]["pid"] != pid
        # and with nothing left, no statement is sent at all
        sent = database.statements
        with deadline.within(seconds_from_now(0.01)), pytest.raises(OutOfTimeError, match="no postgres statement"):
            database.run("SELECT 1")
        assert database.statements == sent
    finally:
        database.close()


def test_a_postgres_connect_gets_only_what_is_left(database_url: str) -> None:
    database = PostgresDatabase(database_url)
    try:
        with deadline.within(seconds_from_now(0.01)), pytest.raises(OutOfTimeError, match="no postgres connect"):
            database.run("SELECT 1")
        with deadline.within(seconds_from_now(2.0)):
            assert database.run("SELECT 1 AS one") == [{"one": 1}]
    finally:
        database.close()


def test_a_redis_command_that_may_not_fit_is_not_sent(redis_url: str) -> None:
    store = RedisStore(redis_url, timeout_s=0.2)  # nine steps of 0.2 s at worst (time_budget.REDIS_STEPS_PER_CALL)
    try:
        with deadline.within(seconds_from_now(1.7)), pytest.raises(OutOfTimeError, match=r"redis get may take 1\.8 s"):
            store.read_version(JobName.INBOX_COUNTS, "acme")
        assert store.commands == 0
        with deadline.within(seconds_from_now(2.0)):
            assert store.read_version(JobName.INBOX_COUNTS, "acme") == 0
        assert store.commands == 1
    finally:
        store.close()


def test_a_new_redis_connection_makes_no_round_trip_the_bound_does_not_count(redis_url: str) -> None:
    proxy = proxy_to(redis_url)
    store = RedisStore(through(redis_url, proxy))
    try:
        store.ping()
        # The health check's PING, SELECT (the test database is not 0) and the PING itself: one connection's two
        # replies and the command's, as the bound counts them (tests/integration/test_call_bounds.py: two connections)
        assert proxy.round_trips.trips == 3 == REDIS_CONNECTION_STEPS - 2 + 1
    finally:
        store.close()
        proxy.close()


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="deadline")["QueueUrl"]


def test_an_sqs_call_that_may_not_fit_is_not_sent_until_the_closing_phase(queue_url: str) -> None:
    client = QueueClient(region_name="us-east-1", limits=AwsCallLimits(1, 3, 2))  # up to 14 s
    record = seconds_from_now(5, end_s=20)
    with deadline.within(record), pytest.raises(OutOfTimeError, match="sqs send may take 14 s"):
        client.send(queue_url, OutgoingMessage("{}"))
    assert client.calls == 0
    # What follows the work (a resend, a hand-back) may use the margin up to the end
    with deadline.within(record.closing()):
        client.send(queue_url, OutgoingMessage("{}"))
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


def test_a_batch_send_runs_its_batches_at_once_keeping_the_order_and_the_deadline(queue_url: str) -> None:
    client = QueueClient(region_name="us-east-1", limits=AwsCallLimits(1, 3, 2))
    messages = [OutgoingMessage(f"m{index}") for index in range(95)]
    # With no deadline: ten batches, the ids in the messages' order
    ids = client.send_batch(queue_url, messages)
    assert client.calls == 10 and len(set(ids)) == 95
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies: dict[str, str] = {}
    while len(bodies) < 95:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            bodies[message["MessageId"]] = message["Body"]
    assert [bodies[message_id] for message_id in ids] == [message.body for message in messages]
    # Under a deadline a batch cannot fit, no batch is sent, from whichever thread
    with deadline.within(seconds_from_now(5)), pytest.raises(OutOfTimeError, match="sqs send batch"):
        client.send_batch(queue_url, messages)
    assert client.calls == 10
