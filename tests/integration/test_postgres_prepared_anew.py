"""A statement the session prepared before a schema change keeps the parameter (and result) types it was
prepared with: after `String @db.Uuid` on Client.id it fails every time with 42883 uuid = text, while a fresh
preparation runs. Any permanent error from a statement prepared earlier is judged on a fresh preparation, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.errors import PermanentError, TransientError
from tests.builders import Workspace
from tests.integration.schema_change import CLIENT_ID_TO_UUID, apply, own_database

LEADS = 'SELECT count(*)::int AS n FROM "Lead" WHERE "clientId" = :client_id'
# Runs on text ids; on uuid ids no preparation can run it (hashtext takes text): a genuinely bad statement then.
# (Warm, it fails on uuid = text; fresh, $1 is a uuid and hashtext fails: the verdict is the fresh one's.)
HASHED = 'SELECT (SELECT count(*) FROM "Lead" l WHERE l."clientId" = :client_id) AS n, hashtext(:client_id) AS h'


@pytest.fixture
def url() -> Iterator[str]:
    with own_database() as database_url:
        yield database_url


@pytest.fixture
def warm(url: str) -> Iterator[tuple[PostgresDatabase, str]]:
    """A session that prepared LEADS and HASHED on the text schema, over a workspace with two leads."""
    db = PostgresDatabase(url)
    workspace = Workspace.create(db)
    workspace.lead()
    workspace.lead()
    assert db.run(LEADS, client_id=workspace.id) == [{"n": 2}]
    db.run(HASHED, client_id=workspace.id)
    yield db, workspace.id
    db.close()


def prepared_on_server(db: PostgresDatabase) -> int:
    return int(db.run("SELECT count(*)::int AS n FROM pg_prepared_statements")[0]["n"])


def test_given_a_statement_prepared_before_the_migration_then_it_runs_outside_a_transaction(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    assert db.run(LEADS, client_id=client_id) == [{"n": 2}]
    assert db.run(LEADS, client_id=client_id) == [{"n": 2}]  # and stays prepared on the new session
    assert prepared_on_server(db) == 1  # the old session's statements went with it


def test_given_it_is_the_first_statement_after_begin_then_the_transaction_goes_on(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    with db.transaction():
        assert db.run(LEADS, client_id=client_id) == [{"n": 2}]
        db.run(
            'INSERT INTO "Lead" (id, "clientId", "updatedAt") VALUES (gen_random_uuid()::text, :c, now())', c=client_id
        )
    assert db.run(LEADS, client_id=client_id) == [{"n": 3}]  # the write committed, in the transaction begun anew


def second_in_a_transaction(db: PostgresDatabase, sql: str, client_id: str) -> list[dict[str, object]]:
    """A recompute's shape: BEGIN, a statement, then the one under test, COMMIT."""
    with db.transaction():
        db.run("SELECT 1 AS one")
        return db.run(sql, client_id=client_id)


def test_given_it_runs_later_in_a_transaction_then_transient_and_the_next_attempt_runs_it(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    # The work before it went with the aborted transaction: this attempt cannot go on
    with pytest.raises(TransientError, match=r"42883: operator does not exist.*prepared anew next time"):
        second_in_a_transaction(db, LEADS, client_id)
    assert second_in_a_transaction(db, LEADS, client_id) == [{"n": 2}]


def test_given_a_statement_no_preparation_can_run_then_it_stays_permanent(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    sent = db.statements
    # Outside a transaction: judged on a fresh preparation at once, whose own error is the verdict
    with pytest.raises(PermanentError, match="42883: function hashtext"):
        db.run(HASHED, client_id=client_id)
    assert db.statements == sent + 2  # once as prepared before, once anew: no more


def test_given_a_bad_statement_later_in_a_transaction_then_one_transient_attempt_and_then_permanent(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    with pytest.raises(TransientError, match="prepared anew next time"):
        second_in_a_transaction(db, HASHED, client_id)
    with pytest.raises(PermanentError, match="42883: function hashtext"):
        second_in_a_transaction(db, HASHED, client_id)
    with pytest.raises(PermanentError, match="42883: function hashtext"):
        second_in_a_transaction(db, HASHED, client_id)  # and every attempt after: never transient again


def test_given_other_records_prepare_a_bad_statement_again_between_its_attempts_then_it_is_still_permanent(
    url: str, warm: tuple[PostgresDatabase, str]
) -> None:
    # Given a busy environment: after this record's transient attempt, another record prepares the statement again
    db, client_id = warm
    apply(url, CLIENT_ID_TO_UUID)
    with pytest.raises(TransientError, match="prepared anew next time"):
        second_in_a_transaction(db, HASHED, client_id)
    with pytest.raises(PermanentError):
        db.run(HASHED, client_id=client_id)  # the other record: prepared fresh, judged as it is
    db.run("SELECT 1 AS one")
    # Then the bad statement, prepared before once more, is judged at once: no second transient attempt
    with pytest.raises(PermanentError, match="42883: function hashtext"):
        second_in_a_transaction(db, HASHED, client_id)


def test_given_a_data_error_on_a_statement_prepared_earlier_then_it_is_permanent_at_once(
    warm: tuple[PostgresDatabase, str],
) -> None:
    # A data error (class 22) fails the same on any preparation: no preparation anew, no retry
    db, _ = warm
    divide = "SELECT 1 / CAST(:client_id AS integer) AS q"
    assert db.run(divide, client_id="1") == [{"q": 1}]
    sent = db.statements
    with pytest.raises(PermanentError, match="22012"):
        second_in_a_transaction(db, divide, "0")
    assert db.statements == sent + 3  # BEGIN, the statement before it, this one: none prepared again
