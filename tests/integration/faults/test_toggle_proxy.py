"""recount.servers.toggle_proxy.ToggleProxy, the outage the fault table and `recount local --chaos` rely on, must be
faithful: down cuts, up restores, and while it is up it never cuts a healthy connection. Its round-trip count
(what B2 reports) must count turns, not commands, and it must add no wait of its own (B2 times jobs through it)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from recount.servers.toggle_proxy import ToggleProxy, proxy_to


def client_through(proxy: ToggleProxy, redis_url: str) -> redis.Redis:
    database = int(urlsplit(redis_url).path.lstrip("/") or 0)
    return redis.Redis(
        host="127.0.0.1",
        port=proxy.port,
        db=database,
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )  # as RedisStore's client: no silent retry


def test_down_cuts_and_up_restores(redis_url: str) -> None:
    proxy = proxy_to(redis_url)
    client = client_through(proxy, redis_url)
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
    proxy = proxy_to(redis_url)
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


def test_round_trips_are_turns_of_the_conversation_not_commands(redis_url: str) -> None:
    proxy = proxy_to(redis_url)
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    try:
        client.sendall(b"PING\r\n")
        assert client.recv(64) == b"+PONG\r\n"
        assert proxy.round_trips.trips == 1
        client.sendall(b"PING\r\nPING\r\nPING\r\n")  # three commands pipelined: one trip
        received = b""
        while len(received) < 21:
            received += client.recv(64)
        assert proxy.round_trips.trips == 2
        client.sendall(b"PING\r\n")
        assert client.recv(64) == b"+PONG\r\n"
        assert proxy.round_trips.trips == 3
    finally:
        client.close()
        proxy.close()


def test_an_answer_in_two_writes_crosses_without_waiting_for_the_clients_ack() -> None:
    # PostgreSQL answers a statement in two writes (BindComplete, then the row and ReadyForQuery once it has run).
    # Held back by Nagle until the client's delayed ACK, the second write would add ~40 ms to every such trip.
    server = socket.create_server(("127.0.0.1", 0))
    proxy = ToggleProxy("127.0.0.1", server.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    upstream, _ = server.accept()
    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as PostgreSQL and Redis set it
    try:
        waits = []
        for _ in range(10):  # past the few quick ACKs a new connection starts with
            started = time.perf_counter()
            client.sendall(b"?")
            assert upstream.recv(1) == b"?"
            upstream.sendall(b"2")
            time.sleep(0.002)
            upstream.sendall(b"D" * 140)
            received = b""
            while len(received) < 141:
                received += client.recv(256)
            waits.append(time.perf_counter() - started)
        assert sorted(waits)[len(waits) // 2] < 0.02, [round(wait * 1000, 1) for wait in waits]
        assert proxy.round_trips.trips == 10
    finally:
        for sock in (client, upstream, server):
            sock.close()
        proxy.close()
