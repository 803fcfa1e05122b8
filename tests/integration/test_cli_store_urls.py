"""A malformed DATABASE_URL or REDIS_URL, given to the operator CLI and to the local runtime: one line on
stderr naming what is wrong, a non-zero exit, never a traceback."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_cli import recount

BAD_DATABASE_URLS = [
    ("postgresql://postgres@h1:5432,h2:5432/app", "DATABASE_URL names several hosts"),
    ("postgresql://postgres@127.0.0.1:5432/app?schema=app&foo=1", 'invalid URI query parameter: "foo"'),
    ("postgresql://postgres@127.0.0.1:port/app", 'invalid integer value "port" for port'),
    ("postgresql://postgres@127.0.0.1/app?target_session_attrs=read-write", "target_session_attrs=read-write"),
]
BAD_REDIS_URLS = [
    ("", "REDIS_URL is empty"),
    ("http://127.0.0.1:6379/0", "REDIS_URL must start with redis://, rediss:// or unix:// (not http://)"),
    ("redis://127.0.0.1:port/0", "REDIS_URL: the port must be a number"),
    ("redis://127.0.0.1:6379/zero", "REDIS_URL: the database in the path must be a number"),
]


def one_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and expected in stderr, stderr


@pytest.mark.parametrize(("url", "expected"), BAD_DATABASE_URLS)
def test_given_a_malformed_database_url_then_status_and_migrate_say_so_in_one_line(
    url: str, expected: str, redis_url: str
) -> None:
    for command in (["status", str(uuid.uuid4())], ["migrate"]):
        result = recount(*command, database_url=url, redis_url=redis_url)
        assert result.returncode != 0
        one_line(result.stderr, expected)


@pytest.mark.parametrize(("url", "expected"), BAD_REDIS_URLS)
def test_given_a_malformed_redis_url_then_status_says_so_in_one_line(
    url: str, expected: str, database_url: str
) -> None:
    result = recount("status", str(uuid.uuid4()), database_url=database_url, redis_url=url)
    assert result.returncode != 0
    one_line(result.stderr, expected)


@pytest.mark.parametrize(
    ("database_url", "redis_url", "expected"),
    [
        (BAD_DATABASE_URLS[0][0], "", BAD_DATABASE_URLS[0][1]),
        ("postgresql://postgres@127.0.0.1:5432/postgres", BAD_REDIS_URLS[1][0], BAD_REDIS_URLS[1][1]),
    ],
)
def test_given_a_malformed_store_url_then_the_local_runtime_says_so_before_starting(
    database_url: str, redis_url: str, expected: str
) -> None:
    result = recount("local", database_url=database_url, redis_url=redis_url)
    assert result.returncode != 0
    one_line(result.stderr, expected)
