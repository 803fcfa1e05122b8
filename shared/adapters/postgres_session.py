"""The PostgreSQL session: opens the pg8000 connection (TLS, an IAM token, the session's settings or, pooled, the
SET LOCAL its transactions begin with) and bounds each socket read by the record's deadline. What runs on it is
shared/adapters/postgres.py."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from shared import deadline
from shared.adapters.postgres_cancel import CANCEL_BOUND_S, send_cancel_request
from shared.adapters.postgres_errors import classify_database_error, error_sqlstate, timed_out
from shared.adapters.postgres_settings import set_local_sql, with_own_settings
from shared.adapters.postgres_url import is_pooled, parse_database_url, rds_region
from shared.adapters.secrets import StoreUrl, store_url
from shared.contracts.errors import OutOfTimeError, PermanentError, TransientError
from shared.contracts.store_settings import PooledMode, iam_auth_problem
from shared.contracts.time_budget import POSTGRES_CONNECT_STEPS

_LEAST_CALL_S = 0.05  # below this, a call is not started: it could only time out


class PostgresSession:
    """One lazily opened connection, opened again after `discard`; statement and lock timeouts set on it.

    Direct to PostgreSQL, the session's settings travel in the startup message. Through a transaction pooler
    (`pooled`) a session may hold no state of its own: each transaction sets them with SET LOCAL in the same
    message as its BEGIN (`begin_sql`: no extra round trip). With `iam_auth` the password is an IAM token made
    for each connection. Credentials the server refuses are read again (`url.refresh()`: the secret, after a
    rotation) by the next connection."""

    def __init__(
        self,
        url: str | StoreUrl,
        *,
        statement_timeout_ms: int,
        lock_timeout_ms: int,
        connect_timeout_s: float,
        pooled: PooledMode,
        iam_auth: bool,
    ) -> None:
        self._url = store_url(url)
        url = self._url.current()
        parsed = parse_database_url(url)
        self._kwargs = parsed.connection_kwargs()
        self._credentials_refused = False  # the server refused them: the next connection reads them again
        if iam_auth and (problem := iam_auth_problem(url)) is not None:
            raise PermanentError(problem)
        self._iam_auth = iam_auth
        self._region = rds_region(url)
        self._rds: Any = None  # boto3's RDS client, made for the first token
        self.pooled = is_pooled(url, pooled)
        # The URL's connect_timeout may shorten recount's bound, never lengthen it (the time budget counts on it).
        self._connect_timeout_s = min(connect_timeout_s, parsed.connect_timeout_s or connect_timeout_s)
        # Every socket read must outlast the slowest statement allowed; the server cancels it first.
        self._read_timeout_s = connect_timeout_s + statement_timeout_ms / 1000
        # force_custom_plan: a prepared statement is still planned for its own workspace's size every time
        # (a generic plan, chosen after five runs, would plan a 100k-lead workspace like a 1k one). jit off:
        # measured (docs/benchmarks.md, B1), compiling costs recount's statements more than it saves.
        self.settings = {
            "statement_timeout": str(statement_timeout_ms),
            "lock_timeout": str(lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(max(statement_timeout_ms * 4, 60_000)),
            "plan_cache_mode": "force_custom_plan",
            "jit": "off",
            "TimeZone": "UTC",  # the app's timestamps are UTC wall clock; no server or role default may shift them
        }
        self.settings = with_own_settings(parsed.settings, self.settings)  # the URL's options, schema
        # Sent after a pooled session's BEGIN, in the same simple-query message: the settings, for this transaction.
        self._set_local = set_local_sql(self.settings)
        self.connection: pg8000.native.Connection | None = None
        self._socket_timeout_s = self._read_timeout_s

    def begin_sql(self, sql: str) -> str:
        """The BEGIN as sent: pooled, with the session's settings for this transaction in the same message, right
        after the BEGIN, so the SET LOCALs the BEGIN itself carries come after them and win, as they would over
        the session's settings unpooled."""
        if not self.pooled:
            return sql
        begin, _, own = sql.strip().rstrip(";").partition(";")
        return "; ".join(part for part in (begin.strip(), self._set_local, own.strip()) if part)

    def _timeout_s(self, own_s: float, what: str) -> tuple[float, bool]:
        """The socket timeout for the next call: its own, or, when less is left before the record's deadline,
        what is left (True: a timeout then means out of time, not a slow server)."""
        left = deadline.left_s()
        if left is None or left >= own_s:
            return own_s, False
        if left <= _LEAST_CALL_S:
            raise OutOfTimeError(f"out of time: no {what} with {max(left, 0.0):.2f} s left")
        return left, True

    def connect(self) -> pg8000.native.Connection:
        """The open connection, or a new one."""
        if self.connection is None:
            if self._credentials_refused:
                try:
                    self._kwargs = parse_database_url(self._url.refresh()).connection_kwargs()
                except PermanentError as error:  # a secret mid-edit: the environment's, never the record's
                    raise TransientError(f"the database secret, read again: {error}") from error
                self._credentials_refused = False
            # The token first (the first one imports boto3 and makes its client): then the deadline's shares
            # count what is really left, and a failure leaves no socket behind.
            kwargs = self._kwargs | {"password": self._auth_token()} if self._iam_auth else self._kwargs
            timeout_s, cut = self._timeout_s(self._connect_timeout_s, "postgres connect")
            try:
                sock = socket.create_connection((self._kwargs["host"], self._kwargs["port"]), timeout=timeout_s)
            except OSError as error:
                if cut and timed_out(error):
                    raise OutOfTimeError(f"out of time connecting to postgres after {timeout_s:.2f} s") from error
                raise TransientError(
                    f"postgres unreachable: cannot connect to {self._kwargs['host']}:"
                    f"{self._kwargs['port']} ({' '.join(str(error).split())})"
                ) from error
            # pg8000 writes a message longer than its 8 KiB buffer (a Parse of recount's statements) apart from what
            # follows it (Flush, Sync): with Nagle's algorithm that second write waits for the server's delayed ACK,
            # ~40 ms a parse. libpq, redis-py and botocore set the same.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The startup exchange (TLS, then authentication: three round trips with SCRAM) answers at once from
            # a healthy server: each of its steps gets the connect timeout, or a share of what is left.
            left_after_connect = deadline.left_s()
            startup_s = self._connect_timeout_s
            if left_after_connect is not None:
                startup_s = min(startup_s, max(left_after_connect, 0.0) / (POSTGRES_CONNECT_STEPS - 1))
                cut = cut or startup_s < self._connect_timeout_s
            sock.settimeout(max(startup_s, 0.001))
            try:
                self.connection = pg8000.native.Connection(
                    **kwargs, sock=sock, startup_params={} if self.pooled else self.settings
                )
            except (TimeoutError, InterfaceError, DatabaseError, OSError) as error:
                sock.close()
                if cut and timed_out(error):
                    raise OutOfTimeError(
                        f"out of time starting a postgres session ({startup_s:.2f} s a step)"
                    ) from error
                refused = classify_database_error(error)
                if self._iam_auth and error_sqlstate(error).startswith("28"):  # invalid authorization
                    # A token can be refused for a while (a policy still propagating, a clock off): the next
                    # connection brings a new one.
                    raise TransientError(f"{refused} (IAM token refused: rds-db:connect for this user?)") from error
                self._credentials_refused = error_sqlstate(error).startswith("28")  # a rotated password, say
                raise refused from error
            self._socket_timeout_s = max(startup_s, 0.001)
        return self.connection

    def _auth_token(self) -> str:
        """A fresh IAM token for this connection (valid 15 minutes, signed locally: no call to AWS)."""
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            if self._rds is None:
                self._rds = boto3.client("rds")
            token: str = self._rds.generate_db_auth_token(
                DBHostname=self._kwargs["host"],
                Port=self._kwargs["port"],
                DBUsername=self._kwargs["user"],
                Region=self._region,  # the endpoint's own; None: the environment's (a name of your own)
            )
        except BotoCoreError as error:  # no region, no credentials: the environment's, not the record's
            raise PermanentError(f"cannot make an IAM token for postgres: {' '.join(str(error).split())}") from error
        return token

    def bound_next_call(self, connection: pg8000.native.Connection) -> bool:
        """Give the next statement the socket timeout it may use; True when the record's deadline cut it."""
        timeout_s, cut = self._timeout_s(self._read_timeout_s, "postgres statement")
        if timeout_s != self._socket_timeout_s:
            # pg8000 reads through its own socket (the TLS one, with sslmode): that is the one to bound.
            connection._usock.settimeout(timeout_s)
            self._socket_timeout_s = timeout_s
        return cut

    def discard(self, *, cancel_running: bool = False) -> None:
        """Close the session; with `cancel_running`, cancel what it may still run first (its locks go now)."""
        connection, self.connection = self.connection, None
        if connection is not None:
            if cancel_running:
                bound_s = min(CANCEL_BOUND_S, self._connect_timeout_s)
                send_cancel_request(self._kwargs["host"], self._kwargs["port"], connection._backend_key_data, bound_s)
            # Closing a broken socket may fail; it is gone either way.
            with contextlib.suppress(InterfaceError, DatabaseError, OSError):
                connection.close()
