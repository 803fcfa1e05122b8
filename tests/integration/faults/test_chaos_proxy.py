"""recount.chaos.ToggleProxy, the outage the fault table and `recount local --chaos` rely on, must be faithful: down
cuts, up restores, and while it is up it never cuts a healthy connection."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from recount.chaos import ToggleProxy


def test_down_cuts_and_up_restores(redis_url: str) -> None:
    proxy = ToggleProxy("127.0.0.1", 6379)
    client = redis.Redis(host="127.0.0.1", port=proxy.port, db=13, socket_timeout=1, socket_connect_timeout=1,
                         retry=Retry(NoBackoff(), 0))  # as RedisStore's client: no silent retry
    try:
        assert client.ping()
        proxy.down()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        proxy.up()
        assert client.ping()
    finally:
        client.close()
        proxy.close()


def test_an_idle_connection_survives_while_the_proxy_is_up(redis_url: str) -> None:
    proxy = ToggleProxy("127.0.0.1", 6379)
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)  # one raw connection, no reconnects
    try:
        client.sendall(b"PING\r\n")
        assert client.recv(64) == b"+PONG\r\n"
        time.sleep(5.5)
        client.sendall(b"PING\r\n")
        assert client.recv(64) == b"+PONG\r\n", "the proxy cut an idle connection"
    finally:
        client.close()
        proxy.close()

