"""shared.adapters.secrets: what Secrets Manager may hold, turned into a store URL; the bounded read (no network)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from shared.adapters.postgres_url import connection_kwargs
from shared.adapters.secrets import SecretUrl, url_from_secret
from shared.contracts.errors import PermanentError
from shared.contracts.time_budget import SECRET_READ_LIMITS

RDS_SECRET = {
    "engine": "postgres",
    "username": "recount",
    "password": "p@ss/w:rd?#%",
    "host": "db.cluster-abc.eu-west-1.rds.amazonaws.com",
    "port": 5432,
    "dbname": "app",
    "dbClusterIdentifier": "app",
}


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("postgresql://app:secret@db.example.com:5432/app?sslmode=verify-full", "postgresql"),
        ("postgres://app@db.example.com/app", "postgresql"),
        ("  rediss://:token@cache.example.com:6379/0\n", "rediss"),
        ("redis://127.0.0.1:6379/13", "rediss"),
    ],
)
def test_given_a_plain_url_then_it_is_used_as_it_is(text: str, scheme: str) -> None:
    assert url_from_secret(text, scheme=scheme) == text.strip()


def test_given_an_rds_secret_then_a_verify_full_url_with_the_credentials_escaped() -> None:
    url = url_from_secret(json.dumps(RDS_SECRET), scheme="postgresql")
    assert url == (
        "postgresql://recount:p%40ss%2Fw%3Ard%3F%23%25@db.cluster-abc.eu-west-1.rds.amazonaws.com:5432"
        "/app?sslmode=verify-full"
    )
    # And the adapter reads the very same credentials back out of it
    kwargs = connection_kwargs(url)
    assert (kwargs["user"], kwargs["password"], kwargs["host"], kwargs["port"], kwargs["database"]) == (
        "recount",
        "p@ss/w:rd?#%",
        RDS_SECRET["host"],
        5432,
        "app",
    )


def test_given_an_rds_secret_without_port_or_dbname_then_neither_is_in_the_url() -> None:
    secret = {"username": "recount", "password": "pw", "host": "db.example.com"}
    assert (
        url_from_secret(json.dumps(secret), scheme="postgresql")
        == "postgresql://recount:pw@db.example.com?sslmode=verify-full"
    )


@pytest.mark.parametrize("scheme", ["postgresql", "rediss"])
def test_given_a_url_field_then_it_is_the_url(scheme: str) -> None:
    url = "rediss://default:tok@cache.upstash.io:6379" if scheme == "rediss" else "postgresql://a:b@h:5432/d"
    assert url_from_secret(json.dumps({"url": url, "host": "ignored"}), scheme=scheme) == url


def test_given_a_redis_secret_then_a_tls_url_with_the_password_escaped() -> None:
    secret = {"host": "cache.example.com", "port": 6380, "password": "a/b@c"}
    url = url_from_secret(json.dumps(secret), scheme="rediss")
    assert url == "rediss://:a%2Fb%40c@cache.example.com:6380"
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("rediss", "cache.example.com", 6380)
    assert "sslmode" not in url


def test_given_a_redis_secret_without_credentials_then_none_in_the_url() -> None:
    assert (
        url_from_secret('{"host": "cache.internal", "port": 6379}', scheme="rediss") == "rediss://cache.internal:6379"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hunter2", "secret is neither a URL nor JSON"),
        ("{'host': 'db'}", "secret is neither a URL nor JSON"),
        ("", "secret is neither a URL nor JSON"),
        ('["db.example.com", 5432]', "secret JSON must be an object"),
        ('"postgresql://quoted"', "secret JSON must be an object"),
        ("42", "secret JSON must be an object"),
        ('{"username": "u", "password": "p", "port": 5432}', "secret JSON has no 'host'"),
    ],
)
def test_given_a_bad_secret_then_a_permanent_error_with_a_one_line_message(text: str, message: str) -> None:
    with pytest.raises(PermanentError) as raised:
        url_from_secret(text, scheme="postgresql")
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_given_a_bad_secret_then_its_content_is_not_in_the_error() -> None:
    with pytest.raises(PermanentError) as raised:
        url_from_secret("not-a-url-but-a-password-hunter2", scheme="rediss")
    assert "hunter2" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_secret_read_goes_through_a_client_with_short_timeouts_and_two_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a store URL held in a secret (its client is made as it would be in Lambda, without a call)
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }.items():
        monkeypatch.setenv(name, value)
    secret = SecretUrl("arn:aws:secretsmanager:eu-west-1:123456789012:secret:recount-db-AbCdEf", scheme="postgresql")
    # Then Powertools reads it over a client bounded as SECRET_READ_LIMITS says, not botocore's 60 s default
    config = secret.provider.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert (SECRET_READ_LIMITS.connect_s, SECRET_READ_LIMITS.read_s, SECRET_READ_LIMITS.attempts) == (1.0, 2.0, 2)
