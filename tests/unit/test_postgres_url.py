"""DATABASE_URL read as libpq reads a URI (shared.adapters.postgres_url): what each parameter becomes, and what
is refused in one line naming it. What psql does with the same URLs is checked against a real server in
tests/integration/test_postgres_url.py."""

from __future__ import annotations

import ssl

import pytest

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_settings import options_settings, set_local_sql
from shared.adapters.postgres_url import is_pooled, parse_database_url, rds_region
from shared.contracts.errors import PermanentError


def test_given_options_then_their_settings_are_the_sessions() -> None:
    parsed = parse_database_url("postgresql://u@h/db?options=-csearch_path%3Dapp%20-c%20work_mem%3D8MB")
    assert parsed.settings == {"search_path": "app", "work_mem": "8MB"}


@pytest.mark.parametrize(
    ("options", "settings"),
    [
        (r"-cfoo.bar=a\ b", {"foo.bar": "a b"}),  # a backslash keeps a space inside the value
        (r"-cfoo.bar=a\\b", {"foo.bar": "a\\b"}),  # and a backslash itself
        ("--statement-timeout=5s   -c x.y=1", {"statement_timeout": "5s", "x.y": "1"}),  # --name: dashes are _
        (r'-csearch_path="My\ App",public', {"search_path": '"My App",public'}),  # quotes do not group words
        ("", {}),
    ],
)
def test_given_options_then_they_are_split_as_the_server_splits_them(options: str, settings: dict[str, str]) -> None:
    assert options_settings(options) == settings


@pytest.mark.parametrize("options", ["-B 100", "-c nonsense", "-c 'x'=1", "-cx;drop=1", "-cuser=admin"])
def test_given_options_that_are_no_setting_then_one_line_refuses_them(options: str) -> None:
    with pytest.raises(PermanentError, match="DATABASE_URL options"):
        options_settings(options)


def test_given_a_prisma_schema_then_it_is_the_search_path_quoted_as_prisma_quotes_it() -> None:
    assert parse_database_url("postgresql://h/db?schema=MyApp&connection_limit=5").settings == {
        "search_path": '"MyApp"'
    }


def test_given_values_in_the_query_then_they_win_over_the_uri_as_in_libpq() -> None:
    parsed = parse_database_url("postgresql://a:b@h1:1/d1?host=h2&port=7&user=u%20x&password=p%26q&dbname=d2")
    assert (parsed.host, parsed.port, parsed.user, parsed.password, parsed.database) == ("h2", 7, "u x", "p&q", "d2")


def test_given_an_ipv6_host_then_its_brackets_are_not_its_name() -> None:
    parsed = parse_database_url("postgresql://[::1]:6543/db")
    assert (parsed.host, parsed.port) == ("::1", 6543)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("application_name=mine&fallback_application_name=other", "mine"),
        ("fallback_application_name=other", "other"),
        ("", "recount"),
    ],
)
def test_given_application_names_then_the_first_set_wins(query: str, name: str) -> None:
    assert parse_database_url(f"postgresql://h/db?{query}").application_name == name


@pytest.mark.parametrize(("value", "seconds"), [("10", 10), ("1", 2), ("0", None), ("-3", None), (" 4 ", 4)])
def test_given_connect_timeout_then_libpq_bounds_it(value: str, seconds: float | None) -> None:
    assert parse_database_url(f"postgresql://h/db?connect_timeout={value}").connect_timeout_s == seconds


def test_given_connect_timeout_then_it_shortens_recounts_bound_and_never_lengthens_it() -> None:
    shorter = PostgresDatabase("postgresql://h/db?connect_timeout=2", connect_timeout_s=5)
    longer = PostgresDatabase("postgresql://h/db?connect_timeout=60", connect_timeout_s=5)
    assert (shorter._session._connect_timeout_s, longer._session._connect_timeout_s) == (2, 5)


@pytest.mark.parametrize(
    ("query", "verify_mode", "check_hostname"),
    [
        ("sslmode=require", ssl.CERT_NONE, False),
        ("ssl=true", ssl.CERT_NONE, False),  # libpq's JDBC spelling
        ("sslmode=verify-ca", ssl.CERT_REQUIRED, False),
        ("sslmode=verify-full", ssl.CERT_REQUIRED, True),
    ],
)
def test_given_an_sslmode_then_the_tls_context_verifies_as_libpq_does(
    query: str, verify_mode: ssl.VerifyMode, check_hostname: bool
) -> None:
    context = parse_database_url(f"postgresql://h/db?{query}").ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (verify_mode, check_hostname)


@pytest.mark.parametrize(("query", "context"), [("sslmode=disable", False), ("sslmode=prefer", None), ("", None)])
def test_given_no_tls_required_then_pg8000_tries_it_or_not(query: str, context: object) -> None:
    assert parse_database_url(f"postgresql://h/db?{query}").ssl_context is context


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("postgresql://h1,h2/db", "several hosts"),
        ("postgresql://h1:5432,h2:5433/db", "several hosts"),
        ("postgresql://h/db?host=h1,h2", "several hosts"),
        ("postgresql://h/db?foo=1", 'invalid URI query parameter: "foo"'),
        ("postgresql://h/db?target_session_attrs=read-write", "target_session_attrs=read-write"),
        ("postgresql://h/db?channel_binding=require", "channel_binding=require"),
        ("postgresql://h/db?hostaddr=10.0.0.1", "hostaddr"),
        ("postgresql://h/db?sslaccept=strict", "sslaccept"),
        ("postgresql://h/db?client_encoding=latin1", "client_encoding=latin1"),
        ("postgresql://h/db?sslmode=bogus", "sslmode"),
        ("postgresql://h/db?sslcert=/c.pem", "sslcert needs sslmode=require"),
        ("postgresql://h:abc/db", 'invalid integer value "abc" for port'),
        ("postgresql://h:70000/db", "invalid port number"),
        ("postgresql://h/db?connect_timeout=soon", "connect_timeout"),
        ("postgresql://%2Fvar%2Frun%2Fpostgresql/db", "Unix-domain socket"),
        ("postgresql://h/db?host=/tmp", "Unix-domain socket"),
        ("postgresql://h/d%zz", "percent-encoded"),
        ("postgresql://h/db?options=-csearch_path=app", '"=" in URI query parameter "options"'),
        ("postgresql://h/db?schema=app&options=-csearch_path%3Dx", "search_path twice"),
        ("mysql://h/db", "postgresql://"),
        ("", "postgresql://"),
    ],
)
def test_given_what_recount_cannot_honour_then_one_line_names_it(url: str, named: str) -> None:
    with pytest.raises(PermanentError, match=None) as refused:
        parse_database_url(url)
    message = str(refused.value)
    assert named in message and "\n" not in message


def test_given_a_refused_url_then_the_password_is_not_in_the_message() -> None:
    with pytest.raises(PermanentError) as refused:
        parse_database_url("postgresql://u:hunter2@h1,h2/db")
    assert "hunter2" not in str(refused.value)


def test_given_prisma_pool_parameters_then_they_are_accepted_and_pgbouncer_says_pooled() -> None:
    url = "postgresql://h/db?pgbouncer=true&connection_limit=1&pool_timeout=0&statement_cache_size=0"
    assert parse_database_url(url).settings == {} and is_pooled(url)


def test_given_the_host_in_the_query_then_the_rds_endpoint_is_read_from_it() -> None:
    host = "app.proxy-abc123.eu-west-1.rds.amazonaws.com"
    assert is_pooled(f"postgresql:///db?host={host}") and rds_region(f"postgresql:///db?host={host}") == "eu-west-1"


def test_given_url_settings_then_recounts_own_win_and_the_rest_are_kept() -> None:
    db = PostgresDatabase("postgresql://h/db?options=-cstatement_timeout%3D0%20-ctimezone%3DEurope/Paris%20-cx.y%3D1")
    assert db._session.settings["statement_timeout"] != "0" and db._session.settings["TimeZone"] == "UTC"
    assert "timezone" not in db._session.settings and db._session.settings["x.y"] == "1"


def test_given_a_list_setting_then_set_local_gives_it_element_by_element() -> None:
    # One quoted string would be one schema named "My App, public"; bare names are lower-cased as the server does
    assert set_local_sql({"search_path": '"My App", Public, "$user"', "x.y": "it's"}) == (
        "SET LOCAL search_path = 'My App', 'public', '$user'; SET LOCAL x.y = 'it''s'"
    )


def test_given_a_bare_non_ascii_schema_then_pooled_mode_folds_it_as_the_server_does() -> None:
    # The server lower-cases A-Z only, and cuts a name at 63 bytes; a pooled session's SET LOCAL must name the same
    sql = set_local_sql({"search_path": "ÉCOLE,Public," + "A" * 70})
    assert sql == f"SET LOCAL search_path = 'École', 'public', '{'a' * 63}'"
