"""A TCP proxy on loopback that can be taken down and brought back (a real store outage, for tests and --chaos),
and that counts the round trips crossing it (what B2 reports: trips on the wire, not statements)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit


class _Turns:
    """One connection's round trips: each time the client speaks after the server has answered (or first)."""

    def __init__(self, counter: RoundTrips) -> None:
        self._counter = counter
        self._client_spoke_last = False

    def client_sent(self) -> None:
        with self._counter.lock:
            if not self._client_spoke_last:
                self._client_spoke_last = True
                self._counter.trips += 1

    def server_sent(self) -> None:
        with self._counter.lock:
            self._client_spoke_last = False


class RoundTrips:
    """Round trips over every connection through a proxy (connection setup included when it happens)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trips = 0


class ToggleProxy:
    """Forwards 127.0.0.1:<port> to a target; `down()` cuts every connection and refuses new ones;
    `round_trips.trips` counts request/response turns (client data after server data), whatever the protocol."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._up = True
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        self.round_trips = RoundTrips()
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        with self._lock:
            self._up = False
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._sockets.clear()

    def up(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()  # the store is down: the connection is reset at once
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)  # the 5 s was for connecting; an idle connection must stay up
                # Each piece forwarded as it comes: with Nagle's algorithm, the second piece of an answer (PostgreSQL
                # sends BindComplete, then the row) waits for the peer's delayed ACK, ~40 ms a trip that a direct
                # connection does not pay, and B2 times the job through this proxy.
                for sock in (client, upstream):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets += [client, upstream]
            turns = _Turns(self.round_trips)
            for source, sink, seen in ((client, upstream, turns.client_sent), (upstream, client, turns.server_sent)):
                threading.Thread(target=self._pipe, args=(source, sink, seen), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, seen: Callable[[], None]) -> None:
        try:
            while data := source.recv(65536):
                seen()  # noted before forwarding, so an answer can never be counted ahead of its request
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not just close: it wakes the other direction's thread blocked in recv, so a side that
            # closes (a terminated backend) reaches the other side at once.
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def proxy_to(url: str) -> ToggleProxy:
    """A proxy to the host and port of a store's URL (postgresql://, redis://, http://)."""
    parts = urlsplit(url)
    return ToggleProxy(parts.hostname or "127.0.0.1", parts.port or 0)


def through(url: str, proxy: ToggleProxy) -> str:
    """The same URL, user, password, database and query kept, pointed at `proxy`."""
    parts = urlsplit(url)
    credentials, _, _ = parts.netloc.rpartition("@")
    address = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials else address))
