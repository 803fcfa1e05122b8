"""A statement the record's deadline cuts is stopped in the database too: the adapter sends a CancelRequest
(with the session's BackendKeyData) before it closes the socket, so the transaction's advisory lock and its
connection are released within about a second, not after statement_timeout. Directly and through a real
transaction pooler (pgbouncer), where only a cancel forwarded by the pooler reaches the server's backend."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import deadline
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_cancel import send_cancel_request
from shared.contracts.errors import OutOfTimeError
from shared.deadline import Deadline
from tests.integration.pgbouncer import transaction_pooler

LOCK = "SELECT pg_try_advisory_xact_lock(7301, hashtext(:client_id)) AS locked"
HOLDERS = (
    "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = 7301 "
    "AND objid = hashtext(:client_id)::oid AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
BACKEND = "SELECT state FROM pg_stat_activity WHERE pid = :pid"
SLEEP_S = 30  # far beyond the test's patience: only a cancel ends it in time


@pytest.fixture
def observer(database_url: str) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(database_url)
    yield db
    db.close()


@pytest.fixture
def pooled_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with transaction_pooler(tmp_path / "pgbouncer") as port:
        yield database_url.replace(":5432/", f":{port}/")


def cut_while_holding_the_lock(db: PostgresDatabase, client_id: str) -> int:
    """A recompute's shape, its statement slowed on purpose and cut by a 0.5 s deadline; the backend's pid."""
    db.run("BEGIN")
    assert db.run(LOCK, client_id=client_id) == [{"locked": True}]
    pid = int(db.run("SELECT pg_backend_pid() AS pid")[0]["pid"])
    record = Deadline(work_at=time.monotonic() + 0.5, end_at=time.monotonic() + 0.5)
    with deadline.within(record), pytest.raises(OutOfTimeError, match="cut a postgres statement"):
        db.run("SELECT pg_sleep(:s)", s=SLEEP_S)
    db.rollback()  # what the caller does next: nothing left to roll back
    return pid


def released_within(observer: PostgresDatabase, client_id: str, pid: int, bound_s: float) -> float:
    """Seconds until no one holds the lock and the backend runs nothing; fails after `bound_s`."""
    started = time.monotonic()
    while True:
        held = observer.run(HOLDERS, client_id=client_id)[0]["n"]
        states = [row["state"] for row in observer.run(BACKEND, pid=pid)]
        if held == 0 and all(state == "idle" for state in states):
            return time.monotonic() - started
        if time.monotonic() - started > bound_s:
            observer.run("SELECT pg_terminate_backend(:pid)", pid=pid)  # leave no orphan to the next test
            pytest.fail(f"after {bound_s} s the lock is held by {held} and the backend is {states}")
        time.sleep(0.05)


def test_given_a_direct_session_when_the_deadline_cuts_its_statement_then_the_backend_stops_and_the_lock_is_free(
    database_url: str, observer: PostgresDatabase
) -> None:
    db = PostgresDatabase(database_url, statement_timeout_ms=SLEEP_S * 2000)
    try:
        pid = cut_while_holding_the_lock(db, "direct")
        released_within(observer, "direct", pid, bound_s=1.0)
        assert observer.run(BACKEND, pid=pid) == []  # the session itself is gone, not parked
        with observer.transaction():  # and the next recompute takes the lock
            assert observer.run(LOCK, client_id="direct") == [{"locked": True}]
    finally:
        db.close()


def test_given_a_session_through_a_transaction_pooler_when_the_deadline_cuts_its_statement_then_the_lock_is_free(
    pooled_url: str, observer: PostgresDatabase
) -> None:
    db = PostgresDatabase(pooled_url, statement_timeout_ms=SLEEP_S * 2000, pooled="true")
    try:
        pid = cut_while_holding_the_lock(db, "pooled")
        released_within(observer, "pooled", pid, bound_s=1.0)
        # And the pooler still serves: a new session through it takes the lock
        with db.transaction():
            assert db.run(LOCK, client_id="pooled") == [{"locked": True}]
    finally:
        db.close()


def test_the_cancel_request_is_bounded_and_never_raises() -> None:
    with socket.socket() as silent:  # a server that accepts the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        assert send_cancel_request("127.0.0.1", silent.getsockname()[1], b"\0" * 8, bound_s=0.3) is False
        assert time.monotonic() - started < 0.6
        port = silent.getsockname()[1]
    assert send_cancel_request("127.0.0.1", port, b"\0" * 8, bound_s=0.3) is False  # nothing listens now
    assert send_cancel_request("127.0.0.1", port, None) is False  # no key: nothing to send
