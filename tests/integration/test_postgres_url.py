"""DATABASE_URL's parameters against the real PostgreSQL: recount's session and psql's agree on what the URL says
(options, application_name), directly and pooled (SET LOCAL in each transaction); Prisma's `schema` puts the
session in that schema."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from shared.adapters.postgres import PostgresDatabase

SHOW = {
    "search_path": "SHOW search_path",
    "schemas": "SELECT array_to_string(current_schemas(true), '|') AS schemas",  # the path in effect
    "application_name": "SHOW application_name",
    "custom": "SELECT current_setting('recount_test.label', true) AS custom",
    "work_mem": "SHOW work_mem",
}

# (query, what it sets): psql reads each the same way (they are libpq's own parameters).
AGREED = [
    "options=-csearch_path%3Dapp",
    "options=-c%20search_path%3Dapp,public%20-cwork_mem%3D7MB",
    "options=-csearch_path%3D%22My%5C%20App%22,app%20--recount-test.label%3Da%5C%20b%5C%5Cc",
    "application_name=from-url&options=-crecount_test.label%3Dx",
    "fallback_application_name=fallback",
]


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def psql_shows(url: str) -> dict[str, str]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    shown = {}
    for name, sql in SHOW.items():
        result = subprocess.run([psql, url, "-Atc", sql], capture_output=True, text=True, timeout=30, check=True)
        shown[name] = result.stdout.strip()
    return shown


def recount_shows(url: str, *, pooled: bool) -> dict[str, str]:
    db = PostgresDatabase(url, pooled="true" if pooled else "false")
    try:
        with db.transaction():
            return {name: str(next(iter(db.run(sql)[0].values())) or "") for name, sql in SHOW.items()}
    finally:
        db.close()


@pytest.fixture
def app_schema(database_url: str) -> Iterator[str]:
    """A schema `app` in the test database, with a table of its own that public does not have."""
    db = PostgresDatabase(database_url)
    db.run('DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS "My App" CASCADE')
    db.run('CREATE SCHEMA app; CREATE SCHEMA "My App"; CREATE TABLE app.only_in_app (id int)')
    db.run("INSERT INTO app.only_in_app VALUES (42)")
    yield database_url
    db.run('DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS "My App" CASCADE')
    db.close()


@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "pooled"])
@pytest.mark.parametrize("query", AGREED)
def test_given_libpq_parameters_then_recounts_session_and_psqls_agree(
    app_schema: str, query: str, pooled: bool
) -> None:
    url = with_query(app_schema, query)
    psql = psql_shows(url)
    if not query.startswith("application_name="):
        # psql's own fallback name wins over the URL's, as a program's does in libpq; recount's gives way to it
        assert psql["application_name"] == "psql"
        psql["application_name"] = "fallback" if "fallback_application_name" in query else "recount"
    recount = recount_shows(url, pooled=pooled)
    # SET LOCAL writes a list back as "a, b" where the startup message keeps "a,b": the same path
    recount["search_path"], psql["search_path"] = (shown["search_path"].replace(", ", ",") for shown in (recount, psql))
    assert recount == psql


@pytest.mark.parametrize("pooled", [False, True], ids=["direct", "pooled"])
def test_given_prisma_schema_then_unqualified_names_are_found_in_that_schema(app_schema: str, pooled: bool) -> None:
    db = PostgresDatabase(with_query(app_schema, "schema=app"), pooled="true" if pooled else "false")
    try:
        with db.transaction():
            assert db.run("SELECT current_schema() AS s")[0]["s"] == "app"
            assert db.run("SELECT id FROM only_in_app") == [{"id": 42}]
    finally:
        db.close()


def test_given_options_setting_recounts_own_bounds_then_recounts_win(database_url: str) -> None:
    db = PostgresDatabase(
        with_query(database_url, "options=-cstatement_timeout%3D0%20-clock_timeout%3D0"),
        statement_timeout_ms=4321,
        lock_timeout_ms=1234,
    )
    try:
        assert db.run("SHOW statement_timeout") == [{"statement_timeout": "4321ms"}]
        assert db.run("SHOW lock_timeout") == [{"lock_timeout": "1234ms"}]
    finally:
        db.close()
