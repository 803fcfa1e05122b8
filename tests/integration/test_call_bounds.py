"""The bounds the time budget counts are the ones the drivers really keep: a Redis command on a new connection
makes no step `REDIS_STEPS_PER_CALL` leaves out (a real Redis behind a loopback proxy), and the boto3 clients
the functions use make one attempt with the short timeouts (a real HTTP server on loopback answering them)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.adapters.idempotency import IdempotencyGuard
from shared.adapters.redis_store import RedisStore
from shared.adapters.sqs import QueueClient
from shared.contracts.errors import TransientError
from shared.contracts.time_budget import REDIS_CONNECTION_STEPS, REDIS_STEPS_PER_CALL, AwsCallLimits
from shared.ports import OutgoingMessage
from shared.wiring.clients import EnvironmentClients
from tests.unit.fakes import outcome_record

# What the proxy cannot see on a plain loopback connection, counted by the bound all the same: the TCP connect
# and the TLS handshake of each connection.
UNSEEN_STEPS_PER_CONNECTION = 2


class StrayReplyProxy:
    """A loopback proxy to Redis whose first connection receives a stray reply right behind its second reply
    (the end of the handshake: AUTH or the health check's PING, then SELECT), as from a server that speaks, or
    hangs up, before the first command. It counts connections and the client's requests."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.connections = 0
        self.requests = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                first = self.connections == 1
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, first), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, stray_after_second: bool | None) -> None:
        replies = 0
        try:
            while data := source.recv(65536):
                if stray_after_second is None:  # the client's side: one request a chunk on loopback
                    with self._lock:
                        self.requests += 1
                else:
                    replies += 1
                    if stray_after_second and replies == 2:
                        data += b"+OK\r\n"  # in the same segment: redis-py's check sees it at once
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def url(self, redis_url: str, *, password: str | None) -> str:
        parts = urlsplit(redis_url)
        credentials = f"default:{password}@" if password else ""
        return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{self.port}"))

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("password", [None, "any"], ids=["no password", "AUTH"])
def test_a_new_redis_connection_may_be_made_twice_before_the_command_and_the_bound_counts_both(
    redis_url: str, password: str | None
) -> None:
    # Given a Redis database that is not 0 (a SELECT on each connection), with AUTH or without (the default user
    # takes any password), and a first connection that has data before its first command
    parts = urlsplit(redis_url)
    proxy = StrayReplyProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    store = RedisStore(proxy.url(redis_url, password=password))
    try:
        # When the adapter sends its first command
        store.ping()
        # Then redis-py's pool dropped that connection and made another before the command, and the steps both
        # connections and the command took are within the bound, which a password's AUTH reaches exactly: AUTH and
        # SELECT on each connection (without one, the health check's PING on the first), then the command
        assert proxy.connections == 2
        steps = 2 * UNSEEN_STEPS_PER_CONNECTION + proxy.requests
        assert steps <= REDIS_STEPS_PER_CALL == 2 * REDIS_CONNECTION_STEPS + 1
        assert (steps == REDIS_STEPS_PER_CALL) is (password is not None), proxy.requests
    finally:
        store.close()
        proxy.close()


class _Refusing(BaseHTTPRequestHandler):
    """An AWS endpoint that is always unavailable (503: botocore's standard mode retries it) or slow to answer."""

    delay_s = 0.0
    requests = 0

    def do_POST(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay_s)
        body = b'{"__type": "ServiceUnavailable", "message": "down"}'
        with contextlib.suppress(OSError):
            self.send_response(503)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def aws_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Refusing]]:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handler = type("Refusing", (_Refusing,), {"delay_s": 0.0, "requests": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "recount-test-idempotency")
    yield handler
    server.shutdown()
    server.server_close()


def _botocore_limits(client: Any) -> tuple[float, float, int]:
    config = client.meta.config
    return config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")  # no Lambda context here
def test_the_functions_boto3_clients_make_one_attempt_with_the_short_timeouts(
    aws_endpoint: type[_Refusing],
) -> None:
    # Given the clients a function builds from its environment (the default AWS limits)
    clients = EnvironmentClients()
    sqs = clients.sqs
    idempotency = clients.idempotency
    assert isinstance(sqs, QueueClient) and isinstance(idempotency, IdempotencyGuard)
    # Then both botocore clients are configured with one attempt, 1 s to connect and 2 s to read
    assert _botocore_limits(sqs.client) == _botocore_limits(idempotency.persistence.client) == (1.0, 2.0, 1)
    # And an endpoint that answers 503 (which botocore retries when allowed) gets one request from each
    with pytest.raises(TransientError, match="sqs send"):
        sqs.send(f"{clients.queues.endpoint_url}/123456789012/counts", OutgoingMessage("{}"))
    assert aws_endpoint.requests == 1
    with pytest.raises(TransientError, match="idempotency store"):
        idempotency.run_once("k", outcome_record)
    assert aws_endpoint.requests == 2


def test_an_aws_call_ends_at_its_read_timeout(aws_endpoint: type[_Refusing]) -> None:
    # Given an endpoint slower than the read timeout
    aws_endpoint.delay_s = 1.5
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    client = QueueClient(endpoint_url=endpoint, limits=AwsCallLimits(0.5, 0.5, 1))
    # When one SQS call is made, then it fails after one read timeout, not after a retry
    started = time.monotonic()
    with pytest.raises(TransientError, match="sqs send: Read timeout"):
        client.send(f"{endpoint}/123456789012/counts", OutgoingMessage("{}"))
    assert time.monotonic() - started < 1.2 and aws_endpoint.requests == 1
