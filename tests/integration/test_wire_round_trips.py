"""Round trips on the wire, counted by a loopback proxy (recount.servers.toggle_proxy.ToggleProxy), not by the adapters.

What a job costs against a database 20 ms away is its trips, not its statements: pg8000's unnamed path is
three trips per statement with parameters; recount prepares once per connection and then pays one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pg8000.native
import pytest

from recount.bench import b2_io
from recount.servers.toggle_proxy import ToggleProxy, proxy_to, through
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_url import connection_kwargs
from shared.contracts.errors import PermanentError

LOCK = "SELECT pg_try_advisory_xact_lock(7301, hashtext(:client_id)) AS locked"


@pytest.fixture
def proxy(database_url: str) -> Iterator[ToggleProxy]:
    opened = proxy_to(database_url)
    yield opened
    opened.close()


def trips_of(proxy: ToggleProxy, action: object) -> int:
    before = proxy.round_trips.trips
    assert callable(action)
    action()
    return proxy.round_trips.trips - before


def test_given_pg8000_unnamed_statements_when_counted_on_the_wire_then_each_costs_three_trips(
    database_url: str, proxy: ToggleProxy
) -> None:
    # The counter's own check: pg8000's plain run of a statement with parameters is parse, describe, execute
    kwargs = connection_kwargs(through(database_url, proxy))
    kwargs.pop("ssl_context")
    connection = pg8000.native.Connection(**kwargs)
    try:
        assert trips_of(proxy, lambda: connection.run(LOCK, client_id="a")) == 3
        assert trips_of(proxy, lambda: connection.run("SELECT 1")) == 1  # no parameters: the simple protocol
    finally:
        connection.close()


def test_given_the_adapter_when_a_statement_repeats_then_it_is_prepared_once_and_costs_one_trip(
    database_url: str, proxy: ToggleProxy
) -> None:
    db = PostgresDatabase(through(database_url, proxy))
    try:
        db.run("SELECT 1")  # connected
        assert trips_of(proxy, lambda: db.run(LOCK, client_id="a")) == 2  # prepare, then execute
        assert trips_of(proxy, lambda: db.run(LOCK, client_id="b")) == 1
        assert trips_of(proxy, lambda: db.run("BEGIN")) == 1
        assert trips_of(proxy, lambda: db.run("COMMIT")) == 1
        assert db.statements == 5
    finally:
        db.close()


def test_given_prepared_statements_turned_off_when_a_statement_repeats_then_it_takes_pg8000s_three_trips(
    database_url: str, proxy: ToggleProxy
) -> None:
    # DATABASE_PREPARED_STATEMENTS=false: for a transaction-mode pooler that does not keep them
    db = PostgresDatabase(through(database_url, proxy), prepared_statements=False)
    try:
        db.run("SELECT 1")
        assert [trips_of(proxy, lambda: db.run(LOCK, client_id="a")) for _ in range(2)] == [3, 3]
    finally:
        db.close()


def test_given_a_transaction_pooler_marked_as_prisma_marks_it_then_nothing_is_prepared(
    database_url: str, proxy: ToggleProxy
) -> None:
    db = PostgresDatabase(through(database_url, proxy) + "?pgbouncer=true")
    try:
        db.run("SELECT 1")
        # BEGIN carries the settings (SET LOCAL) in its own message: still one trip
        assert trips_of(proxy, lambda: db.run("BEGIN")) == 1
        assert trips_of(proxy, lambda: db.run(LOCK, client_id="a")) == 3
        assert trips_of(proxy, lambda: db.run("COMMIT")) == 1
        # Outside a transaction a statement runs in one of its own: BEGIN, the statement, COMMIT
        assert trips_of(proxy, lambda: db.run(LOCK, client_id="a")) == 1 + 3 + 1
        assert db.run("SELECT count(*) AS n FROM pg_prepared_statements")[0]["n"] == 0
    finally:
        db.close()


def test_given_the_schema_moved_under_a_prepared_plan_then_it_runs_at_once_and_every_statement_is_prepared_anew(
    database_url: str,
) -> None:
    db = PostgresDatabase(database_url)
    try:
        db.run("CREATE TEMP TABLE moving (a int)")
        db.run("INSERT INTO moving VALUES (1)")
        assert db.run("SELECT * FROM moving WHERE a = :a", a=1) == [{"a": 1}]
        assert db.run(LOCK, client_id="a") == [{"locked": True}]
        db.run("ALTER TABLE moving ADD COLUMN b int")
        sent = db.statements
        # 0A000 cached plan must not change result type: judged again on a fresh preparation, in the same session
        assert db.run("SELECT * FROM moving WHERE a = :a", a=1) == [{"a": 1, "b": None}]
        assert db.statements == sent + 2
        names = db.run("SELECT name FROM pg_prepared_statements")
        assert len(names) == 1, "the session's other statements were closed on the server, none left behind"
        assert db.run(LOCK, client_id="a") == [{"locked": True}]  # prepared anew when next used
    finally:
        db.close()


def test_given_a_real_0A000_from_the_planner_then_it_stays_permanent(database_url: str) -> None:
    db = PostgresDatabase(database_url)
    try:
        with pytest.raises(PermanentError, match="0A000"):
            db.run("SELECT 1 FROM (SELECT :a::int AS a) x LEFT JOIN pg_class c ON false FOR UPDATE OF c", a=1)
    finally:
        db.close()


def test_given_a_prepared_statement_dropped_by_the_server_when_run_then_it_is_prepared_again_at_once(
    database_url: str,
) -> None:
    # What a transaction pooler or DISCARD ALL does to a session's prepared statements (26000)
    db = PostgresDatabase(database_url)
    try:
        assert db.run(LOCK, client_id="a") == [{"locked": True}]
        db.run("DEALLOCATE ALL")
        assert db.run(LOCK, client_id="a") == [{"locked": True}]
    finally:
        db.close()


def test_given_a_statement_longer_than_pg8000s_write_buffer_when_parsed_then_its_trip_waits_for_no_ack(
    database_url: str,
) -> None:
    # pg8000 writes a Parse longer than its 8 KiB buffer at once, then Flush and Sync: with Nagle's algorithm the
    # second write waited for the server's delayed ACK, ~40 ms a trip (recount's two statements are longer).
    db = PostgresDatabase(database_url, prepared_statements=False)
    long_statement = "SELECT :a::int AS a -- " + "x" * 9000
    try:
        db.run("SELECT 1")
        waits = []
        for _ in range(10):  # past the few quick ACKs a new connection starts with
            started = time.perf_counter()
            assert db.run(long_statement, a=1) == [{"a": 1}]
            waits.append(time.perf_counter() - started)
        assert sorted(waits)[len(waits) // 2] < 0.02, [round(wait * 1000, 1) for wait in waits]
    finally:
        db.close()


def test_given_a_warm_execution_environment_when_a_dirty_event_is_recomputed_then_the_wire_meets_the_budget(
    database_url: str, redis_url: str
) -> None:
    result = b2_io.measure(database_url, redis_url)
    assert result.warm.trips["PostgreSQL"] <= 4, result  # BEGIN, lock and marker, the statement, COMMIT
    assert result.warm.trips["Redis"] <= 2, result  # running status; bump and final status
    assert result.warm.sent["DynamoDB"] <= 2 and result.warm.sent["SQS"] == 0, result
    # moto's endpoint saw exactly the requests the clients made: nothing else crossed the wire to AWS
    assert result.warm.trips["AWS"] == result.warm.sent["DynamoDB"] + result.warm.sent["SQS"], result
    assert result.cold.trips["PostgreSQL"] > result.warm.trips["PostgreSQL"], "connecting and preparing cost trips"
    assert result.met()
    # What B10 prices: the idempotency record's two writes, the handler's time around its job, its log
    assert result.warm.operations["DynamoDB"] == {"PutItem": 1, "UpdateItem": 1}, result.warm
    assert result.warm.body_bytes["DynamoDB"] > 0 and result.warm.log_bytes > 0, result.warm
    # each warm job timed, its calls B1's job makes inside its handler's time; the first is the one counted
    assert len(result.timed) == b2_io.WARM_JOBS and result.timed[0] is result.warm, result.timed
    assert all(job.handler_ms > job.recompute_calls_ms > 0 for job in result.timed), result.timed
    assert all(job.trips == result.warm.trips for job in result.timed), result.timed  # each a real job, alike
    # Through a pooler: the same statements, the two with parameters on pg8000's unnamed path (three trips each)
    assert result.pooled is not None
    assert result.pooled.warm.sent["PostgreSQL"] == result.warm.sent["PostgreSQL"], result.pooled
    assert result.pooled.warm.trips["PostgreSQL"] == 1 + 3 + 3 + 1, result.pooled
    assert result.pooled.warm.trips["Redis"] == result.warm.trips["Redis"], result.pooled
