"""Through a transaction pooler (RDS Proxy, pgbouncer in transaction mode) a session holds no state of its own:
recount's settings hold for each transaction only (SET LOCAL, sent with its BEGIN), a statement outside a
transaction runs in one of its own, nothing is prepared by name, and every advisory lock is the transaction's.
What RDS Proxy pins a session for is exactly such state (docs/deploying.md, "On RDS and ElastiCache")."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pg8000.native
import pytest

from recount.migrations import migrate
from shared import deadline
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_url import connection_kwargs, is_pooled
from shared.contracts.errors import OutOfTimeError, PermanentError, TransientError

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


@pytest.mark.parametrize("pooled_mode", ["true", "false"])
def test_given_a_begin_with_its_own_set_local_then_its_setting_wins_over_the_sessions_for_that_transaction(
    database_url: str, pooled_mode: str
) -> None:
    # A dirty job's BEGIN carries SET LOCAL plan_cache_mode (shared/domain/recompute.py): pooled, the session's
    # settings travel in the same message, and must come before it, not after
    db = session(database_url, pooled_mode)
    try:
        db.run("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
        inside = {row["name"]: row["now_value"] for row in db.run(SETTINGS_SQL)}
        db.run("COMMIT")
        db.run("BEGIN")
        after = {row["name"]: row["now_value"] for row in db.run(SETTINGS_SQL)}
        db.run("COMMIT")
    finally:
        db.close()
    assert inside == {**RECOUNT_SETTINGS, "plan_cache_mode": "force_generic_plan"}
    assert after == RECOUNT_SETTINGS  # the transaction's own, and only its


@pytest.mark.parametrize(
    "begin",
    [
        # pooled, the session's SET LOCALs go in right after the BEGIN: the comment would hide them and the caller's
        "BEGIN -- generic plans; SET LOCAL plan_cache_mode = force_generic_plan",
        "BEGIN /* generic plans */; SET LOCAL plan_cache_mode = force_generic_plan",
        # a ';' in a value, or a statement after the SET LOCALs: not a BEGIN the session can follow (pooled, it
        # ran inside a transaction of its own, committed at once, and took the caller's transaction with it)
        "BEGIN; SET LOCAL application_name = 'job;1'",
        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SELECT 1",
    ],
)
@pytest.mark.parametrize("pooled_mode", ["true", "false"])
def test_given_a_begin_the_session_cannot_follow_then_it_is_refused_before_it_is_sent(
    database_url: str, pooled_mode: str, begin: str
) -> None:
    db = session(database_url, pooled_mode)
    try:
        with pytest.raises(PermanentError, match="a BEGIN the session cannot follow"):
            db.run(begin)
        # nothing was sent: no transaction was left open, and the next one has recount's settings
        outside = [db.run("SELECT txid_current() AS tx")[0]["tx"] for _ in range(2)]
        db.run("BEGIN")
        inside = {row["name"]: row["now_value"] for row in db.run(SETTINGS_SQL)}
        db.run("COMMIT")
    finally:
        db.close()
    assert outside[0] != outside[1]
    assert inside == RECOUNT_SETTINGS


@pytest.mark.parametrize("end", ["COMMIT -- done", "COMMIT AND CHAIN", "COMMIT; SELECT 1"])
@pytest.mark.parametrize("pooled_mode", ["true", "false"])
def test_given_an_end_the_session_cannot_follow_then_it_is_refused_and_the_transaction_goes_on(
    database_url: str, pooled_mode: str, end: str
) -> None:
    # Sent, it would end the transaction while the session went on as if in it: pooled, each next statement in a
    # transaction of its own, without recount's settings
    db = session(database_url, pooled_mode)
    try:
        db.run("BEGIN")
        before = db.run("SELECT txid_current() AS tx")[0]["tx"]
        with pytest.raises(PermanentError, match="an end of a transaction the session cannot follow"):
            db.run(end)
        after = db.run("SELECT txid_current() AS tx, current_setting('statement_timeout') AS timeout")[0]
        db.run("ROLLBACK AND NO CHAIN")
        outside = db.run("SELECT txid_current() AS tx")[0]["tx"]
    finally:
        db.close()
    assert after == {"tx": before, "timeout": "1234ms"}, "still the one transaction, with the settings"
    assert outside != before


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
        ("postgresql://recount@recount.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com./app", "auto", True),
        ("postgresql://recount@db-1.c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com/app", "auto", False),  # the instance
        ("postgresql://recount@proxy-host.example.com/app", "auto", False),
        ("postgresql://recount@pooler.example.com/app?pgbouncer=true", "auto", True),
        ("postgresql://recount@pooler.example.com/app", "true", True),
        ("postgresql://recount@recount.proxy-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com/app", "false", False),
    ],
)
def test_a_pooler_is_read_from_the_url_unless_the_setting_says(url: str, mode: str, expected: bool) -> None:
    assert is_pooled(url, mode) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("opens", "ends"),
    [
        ("BEGIN", "COMMIT"),
        ("begin;", "end"),
        ("START TRANSACTION", "COMMIT;"),
        ("BEGIN ISOLATION LEVEL REPEATABLE READ", "ROLLBACK"),
        ("BEGIN", "abort"),
    ],
)
def test_given_a_pooled_session_whatever_spelling_opens_and_ends_a_transaction_the_settings_follow(
    pooled: PostgresDatabase, opens: str, ends: str
) -> None:
    pooled.run(opens)
    first = pooled.run("SELECT txid_current() AS tx, current_setting('statement_timeout') AS timeout")
    second = pooled.run("SELECT txid_current() AS tx")
    pooled.run(ends)
    after = pooled.run("SELECT txid_current() AS tx, current_setting('statement_timeout') AS timeout")
    assert first[0]["timeout"] == "1234ms" and first[0]["tx"] == second[0]["tx"], "one transaction, with the settings"
    assert after[0]["timeout"] == "1234ms" and after[0]["tx"] != first[0]["tx"], "ended: the next runs in its own"


def test_given_a_pooled_session_a_session_set_is_refused_before_it_is_sent(pooled: PostgresDatabase) -> None:
    for statement in ("SET work_mem = '7MB'", "set jit = on", "RESET work_mem"):
        with pytest.raises(PermanentError, match="would outlive the transaction and pin a pooled session"):
            pooled.run(statement)
    pooled.run("BEGIN")
    pooled.run("SET LOCAL work_mem = '7MB'")  # the transaction's own: allowed
    pooled.run("SET TRANSACTION READ ONLY")
    pooled.run("COMMIT")
    assert pooled.run("SELECT reset_val FROM pg_settings WHERE name = 'work_mem'") != [{"reset_val": "7168"}]


@pytest.mark.parametrize("pooled_mode", ["true", "false"])
def test_given_a_commit_the_deadline_stops_before_it_is_sent_then_the_write_is_never_committed_later(
    database_url: str, pooled_mode: str
) -> None:
    db, other = session(database_url, pooled_mode), session(database_url, "false")
    other.run("CREATE TABLE IF NOT EXISTS deadline_commit_probe (n int)")
    other.run("TRUNCATE deadline_commit_probe")
    try:
        db.run("SELECT 1")
        # Record 1: the write takes all but 30 ms of its time: too little to send the COMMIT
        start = time.monotonic()
        cut = deadline.Deadline(work_at=start + 0.5, end_at=start + 0.5)
        with deadline.within(cut), pytest.raises(OutOfTimeError), db.transaction():
            db.run("INSERT INTO deadline_commit_probe SELECT 1 FROM pg_sleep(:s)", s=0.47)
        # Record 2, on the same adapter: its own transaction commits only its own write
        with db.transaction():
            db.run("INSERT INTO deadline_commit_probe VALUES (2)")
        assert other.run("SELECT n FROM deadline_commit_probe") == [{"n": 2}]
    finally:
        other.run("DROP TABLE IF EXISTS deadline_commit_probe")
        db.close()
        other.close()


def test_given_a_begin_the_deadline_stops_before_it_is_sent_then_the_connection_is_kept(
    pooled: PostgresDatabase,
) -> None:
    pid = pooled.run("SELECT pg_backend_pid() AS pid")
    spent = deadline.Deadline(work_at=time.monotonic(), end_at=time.monotonic())
    with deadline.within(spent), pytest.raises(OutOfTimeError):
        pooled.run("BEGIN")
    assert pooled.run("SELECT pg_backend_pid() AS pid") == pid, "nothing was sent: nothing to throw away"
