"""A PostgreSQL session that can never write again is not reused: after a failover it may still reach the
demoted primary (read-only), and only a new connection reaches the new one."""

from __future__ import annotations

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.errors import TransientError


def test_a_read_only_session_is_replaced_after_its_error(database_url: str) -> None:
    admin = PostgresDatabase(database_url)
    name = admin.run("SELECT current_database() AS name")[0]["name"]
    # Given a session opened while its server only took reads (a reader, or a primary being demoted)
    admin.run(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    session = PostgresDatabase(database_url)
    try:
        session.run("SELECT 1")
        admin.run(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')  # the new primary takes writes
        # When a write fails on it with 25006, Then the error is transient and the next attempt reconnects
        with pytest.raises(TransientError, match="postgres 25006"):
            session.run("CREATE TEMP TABLE probe (a int)")
        session.run("CREATE TEMP TABLE probe (a int)")
    finally:
        admin.run(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        session.close()
        admin.close()
