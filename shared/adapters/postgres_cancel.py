"""Stop a statement the adapter gave up waiting for: PostgreSQL's CancelRequest, as libpq's PQcancel sends it.

Closing the socket alone does not stop a running statement: the server notices a vanished client only when it
next reads or writes, so the statement (and the locks its transaction holds) would live on for up to
statement_timeout. A CancelRequest goes on a new connection to the same host and port, so through a transaction
pooler (pgbouncer, RDS Proxy) it reaches the pooler, which forwards it to the server connection it lent the
session: a server-side check such as client_connection_check_interval would see only the pooler.
"""

from __future__ import annotations

import socket
import struct
import time

from shared.contracts.time_budget import POSTGRES_CANCEL_S

CANCEL_REQUEST_CODE = 80877102  # protocol 3.0: (1234 << 16) | 5678
CANCEL_BOUND_S = POSTGRES_CANCEL_S  # the whole exchange; it runs when the record is out of time (the margin counts it)


def send_cancel_request(host: str, port: int, backend_key: bytes | None, bound_s: float = CANCEL_BOUND_S) -> bool:
    """Ask the server (or the pooler in front of it) to cancel what the session with `backend_key` (its
    BackendKeyData: process id and secret key, 8 bytes) runs now. Bounded by `bound_s` in all; never raises.
    True when the server took the request (it answers nothing and closes the connection)."""
    if backend_key is None or len(backend_key) != 8:
        return False  # a session that sent no key (some poolers) cannot be cancelled
    ends_at = time.monotonic() + bound_s
    try:
        with socket.create_connection((host, port), timeout=bound_s) as sock:
            sock.settimeout(max(ends_at - time.monotonic(), 0.001))
            sock.sendall(struct.pack("!ii", 16, CANCEL_REQUEST_CODE) + backend_key)
            # As PQcancel does: wait for the server to close, so the cancel is delivered before the session's own
            # socket closes (a pooler forgets a cancel key once its client has gone).
            sock.settimeout(max(ends_at - time.monotonic(), 0.001))
            while sock.recv(64):
                sock.settimeout(max(ends_at - time.monotonic(), 0.001))
        return True
    except (OSError, ValueError):  # refused, timed out, reset: nothing more to do in the time there is
        return False
