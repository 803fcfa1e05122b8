"""Redis URLs checked before redis-py reads them (shared.adapters.redis_url): one line naming what is wrong,
where redis-py raises a bare ValueError or drops the mistake silently."""

from __future__ import annotations

import pytest

from shared.adapters.redis_store import RedisStore
from shared.adapters.redis_url import check_redis_url
from shared.contracts.errors import PermanentError


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0", "rediss://:p%40ss@h:6380/2?ssl_cert_reqs=none", "unix:///tmp/r.sock?db=1", "redis://h"]
)
def test_given_a_good_redis_url_then_it_is_used_as_written(url: str) -> None:
    assert check_redis_url(url) == url


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("", "REDIS_URL is empty"),
        ("   ", "REDIS_URL is empty"),
        ("http://h:6379", "not http://"),
        ("h:6379", "no scheme"),
        ("redis://h:abc/0", "port"),
        ("redis://h:70000/0", "port"),
        ("redis://h:0/1", "port"),  # redis-py would take port 0 for "none" and go to 6379
        ("redis://h:6379/1?db=2", "more than once"),
        ("redis://h:6379?db=1&db=2", "more than once"),
        ("redis://h:6379/x", "database in the path"),
        ("redis://h:6379?db=one", "database in ?db="),
        ("redis://h:6379/0?socket_timeout=60", "socket_timeout is set by recount"),
        ("redis://h:6379/0?ssl_cert_reqs=none", "ssl_cert_reqs"),
        ("redis://h:6379/0?bogus=1", "bogus"),
    ],
)
def test_given_a_bad_redis_url_then_one_line_names_the_problem(url: str, named: str) -> None:
    with pytest.raises(PermanentError) as refused:
        RedisStore(url)
    assert named in str(refused.value) and "\n" not in str(refused.value)
