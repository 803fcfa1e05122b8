"""Through a transaction pooler (RDS Proxy, pgbouncer in transaction mode) a session holds no state of its own:
recount's settings hold for each transaction only (SET LOCAL, sent with its BEGIN), a statement outside a
transaction runs in one of its own, nothing is prepared by name, and every advisory lock is the transaction's.
What RDS Proxy pins a session for is exactly such state (README, "On RDS and ElastiCache")."""

from __future__ import annotations

from collections.abc import Iterator

import pg8000.native
import pytest

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase, connection_kwargs, is_pooled
from shared.contracts.errors import PermanentError, TransientError

# recount's session settings, as PostgreSQL shows them (statement 1234 ms, lock 567 ms)
RECOUNT_SETTINGS = {
    "statement_timeout": "1234ms",
    "lock_timeout": "567ms",
    "plan_cache_mode": "force_custom_plan",
    "jit": "off",
    "TimeZone": "UTC",
}
SETTINGS_SQL = (
    "SELECT name, current_setting(name) AS now_value, reset_val FROM pg_settings "
    "WHERE name IN ('statement_timeout', 'lock_timeout', 'plan_cache_mode', 'jit', 'TimeZone')"
)
LOCK = "SELECT pg_try_advisory_xact_lock(7301, hashtext(:client_id)) AS locked"


@pytest.fixture
def server_defaults(database_url: str) -> dict[str, str]:
    """What a session that sets nothing resets to: the server's (and role's, and database's) defaults."""
    kwargs = connection_kwargs(database_url)
    kwargs.pop("ssl_context")
    connection = pg8000.native.Connection(**kwargs)
    try:
        return dict(connection.run("SELECT name, reset_val FROM pg_settings"))
    finally:
        connection.close()


def session(database_url: str, pooled: str) -> PostgresDatabase:
    return PostgresDatabase(database_url, statement_timeout_ms=1234, lock_timeout_ms=567, pooled=pooled)  # type: ignore[arg-type]


@pytest.fixture
def pooled(database_url: str) -> Iterator[PostgresDatabase]:
    db = session(database_url, "true")
    yield db
    db.close()


def test_given_a_pooled_session_then_its_transactions_have_recounts_settings_and_the_session_none(
    pooled: PostgresDatabase, server_defaults: dict[str, str]
) -> None:
    # A recompute's shape: BEGIN, the lock, the statement, COMMIT
    pooled.run("BEGIN")
    assert pooled.run(LOCK, client_id="a") == [{"locked": True}]
    rows = pooled.run(SETTINGS_SQL)
    pooled.run("COMMIT")
    # Then inside the transaction recount's settings hold
    assert {row["name"]: row["now_value"] for row in rows} == RECOUNT_SETTINGS
    # And the session's own values (what RESET restores, what outlives the transaction) are the server's
    assert {row["name"]: row["reset_val"] for row in rows} == {name: server_defaults[name] for name in RECOUNT_SETTINGS}


def test_given_a_direct_session_then_the_settings_are_the_sessions_own(
    database_url: str, server_defaults: dict[str, str]
) -> None:
    # The contrast: without a pooler they travel in the startup message, at no cost per transaction
    db = session(database_url, "false")
    try:
        rows = db.run(SETTINGS_SQL)
    finally:
        db.close()
    assert {row["name"]: row["reset_val"] for row in rows}["statement_timeout"] == "1234"
    assert {row["name"]: row["now_value"] for row in rows} == RECOUNT_SETTINGS


def test_given_a_pooled_session_after_a_recompute_then_nothing_is_left_that_pins_it(pooled: PostgresDatabase) -> None:
    pooled.run("BEGIN")
    pooled.run(LOCK, client_id="a")
    pooled.run("SELECT :n::int AS n", n=1)
    pooled.run("COMMIT")
    pooled.run("SELECT :n::int AS n", n=2)  # outside a transaction too
    # Then: no prepared statement, no advisory lock, no temporary table, no channel listened on, no open cursor
    left = pooled.run(
        "SELECT (SELECT count(*) FROM pg_prepared_statements)::int AS prepared,"
        " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())::int AS locks,"
        " (SELECT count(*) FROM pg_class WHERE relpersistence = 't')::int AS temporary,"
        " (SELECT count(*) FROM pg_listening_channels())::int AS listening,"
        " (SELECT count(*) FROM pg_cursors)::int AS cursors"
    )
    assert left == [{"prepared": 0, "locks": 0, "temporary": 0, "listening": 0, "cursors": 0}]


def test_given_a_pooled_session_a_statement_outside_a_transaction_runs_under_recounts_timeout(
    database_url: str,
) -> None:
    db = PostgresDatabase(database_url, statement_timeout_ms=300, lock_timeout_ms=100, pooled="true")
    try:
        # The server's default statement_timeout is none: only recount's own can cancel this one
        with pytest.raises(TransientError, match="postgres 57014"):
            db.run("SELECT pg_sleep(:s)", s=3)
        # And the session is usable afterwards, outside any transaction
        assert db.run("SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND NOT granted") == [
            {"n": 0}
        ]
    finally:
        db.close()


def test_given_a_pooled_url_when_migrate_is_run_then_it_is_refused_in_one_line(database_url: str) -> None:
    db = PostgresDatabase(database_url + "?pgbouncer=true")
    try:
        with pytest.raises(PermanentError, match=r"^DATABASE_URL reaches PostgreSQL through a pooler: run migrate"):
            migrate(db)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("url", "mode", "expected"),
    [
        ("postgresql://recount@recount.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com:5432/app", "auto", True),
        ("postgresql://recount@RECOUNT.PROXY-C1A2B3C4D5E6.EU-WEST-1.RDS.AMAZONAWS.COM/app", "auto", True),
        ("postgresql://recount@recount.proxy-c1a2b3c4d5e6.cn-north-1.rds.amazonaws.com.cn/app", "auto", True),
        ("postgresql://recount@db-1.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com/app", "auto", False),  # the instance
        ("postgresql://recount@proxy-host.example.com/app", "auto", False),
        ("postgresql://recount@pooler.example.com/app?pgbouncer=true", "auto", True),
        ("postgresql://recount@pooler.example.com/app", "true", True),
        ("postgresql://recount@recount.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com/app", "false", False),
    ],
)
def test_a_pooler_is_read_from_the_url_unless_the_setting_says(url: str, mode: str, expected: bool) -> None:
    assert is_pooled(url, mode) is expected  # type: ignore[arg-type]
