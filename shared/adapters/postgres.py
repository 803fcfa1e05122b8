"""PostgreSQL adapter: owns the pg8000 connection and turns its errors into domain errors."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from shared import deadline
from shared.adapters.postgres_cancel import CANCEL_BOUND_S, send_cancel_request
from shared.adapters.postgres_errors import classify_sqlstate, ends_session
from shared.adapters.postgres_settings import set_local_sql, with_own_settings
from shared.adapters.postgres_url import is_pooled, parse_database_url, rds_region
from shared.adapters.secrets import StoreUrl, store_url
from shared.contracts.errors import OutOfTimeError, PermanentError, TransientError, WorkspaceGoneError
from shared.contracts.settings import PooledMode, iam_auth_problem
from shared.contracts.time_budget import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    POSTGRES_CONNECT_STEPS,
)

Row = dict[str, Any]

_LEAST_CALL_S = 0.05  # below this, a call is not started: it could only time out
_MAX_PREPARED = 64  # distinct statements kept prepared per connection (a bound on the server's memory)


def classify_database_error(error: BaseException) -> TransientError | PermanentError:
    """Map a driver error to a domain error with a one-line message."""
    if isinstance(error, DatabaseError) and error.args and isinstance(error.args[0], dict):
        fields: dict[str, str] = error.args[0]
        code = fields.get("C", "")
        message = f"postgres {code}: {' '.join(fields.get('M', '').split())}"
        return classify_sqlstate(code, message, constraint=fields.get("n"))
    return TransientError(f"postgres unreachable: {' '.join(str(error).split()) or type(error).__name__}")


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a server's error; "" for anything else."""
    fields = error.args[0] if isinstance(error, DatabaseError) and error.args else None
    return str(fields.get("C", "")) if isinstance(fields, dict) else ""


def _may_be_stale(error: DatabaseError, domain_error: TransientError | PermanentError) -> bool:
    """Whether a statement prepared earlier may have failed for its preparation: after a migration (class 42, such
    as 42883 uuid = text or 42804; 0A000 cached plan must not change result type), after DEALLOCATE (26000). A data
    error (class 22, 23, P0) fails the same on any preparation, so it is judged at once."""
    code = _sqlstate(error)
    stale = code in ("0A000", "26000") or code.startswith("42")
    return stale and isinstance(domain_error, PermanentError) and not isinstance(domain_error, WorkspaceGoneError)


# Statements that open or end a transaction (whole statements only: ROLLBACK TO SAVEPOINT ends nothing).
_BEGINS = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION)\b[^;]*;?\s*$", re.IGNORECASE)
_ENDS = re.compile(r"^\s*(COMMIT|END|ROLLBACK|ABORT)(\s+(WORK|TRANSACTION))?\s*;?\s*$", re.IGNORECASE)
# Session state a pooler would pin the session for (SET LOCAL and SET TRANSACTION are the transaction's).
_SESSION_SET = re.compile(r"^\s*(SET(?!\s+(LOCAL|TRANSACTION)\b)|RESET)\b", re.IGNORECASE)


def _timed_out(error: BaseException | None) -> bool:
    """A socket timeout, even wrapped by pg8000 ("network error" from it): not a server that hung up."""
    while error is not None:
        if isinstance(error, TimeoutError):
            return True
        error = error.__cause__ or error.__context__
    return False


class PostgresDatabase:
    """One lazily opened connection, reopened after a failure; statement and lock timeouts set on it.

    Direct to PostgreSQL, the session's settings travel in the startup message. Through a transaction pooler
    (`pooled`) a session may hold no state of its own: each transaction sets them with SET LOCAL in the same
    message as its BEGIN (no extra round trip), a statement outside a transaction runs in one of its own, and
    no statement is prepared by name. With `iam_auth` the password is an IAM token made for each connection.
    Credentials the server refuses are read again (`url.refresh()`: the secret, after a rotation) by the next
    connection."""

    def __init__(
        self,
        url: str | StoreUrl,
        *,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        prepared_statements: bool = True,
        pooled: PooledMode = "auto",
        iam_auth: bool = False,
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
        self._session = {
            "statement_timeout": str(statement_timeout_ms),
            "lock_timeout": str(lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(max(statement_timeout_ms * 4, 60_000)),
            "plan_cache_mode": "force_custom_plan",
            "jit": "off",
            "TimeZone": "UTC",  # the app's timestamps are UTC wall clock; no server or role default may shift them
        }
        self._session = with_own_settings(parsed.settings, self._session)  # the URL's options, schema
        # Sent after a pooled session's BEGIN, in the same simple-query message: the settings, for this transaction.
        self._set_local = set_local_sql(self._session)
        self._connection: pg8000.native.Connection | None = None
        self._in_transaction = False
        self._begun_with = ""  # the open transaction's BEGIN, as sent
        self._run_since_begin = 0  # statements run in the open transaction after its BEGIN
        self._socket_timeout_s = self._read_timeout_s
        self._prepared: dict[str, pg8000.native.PreparedStatement] = {}
        self._suspect: set[str] = set()  # statements prepared anew after an error, until one of them succeeds
        self._prepare_limit = _MAX_PREPARED if prepared_statements and not self.pooled else 0
        self.statements = 0  # statements sent; wire round trips are counted outside (recount.wire)

    def _timeout_s(self, own_s: float, what: str) -> tuple[float, bool]:
        """The socket timeout for the next call: its own, or, when less is left before the record's deadline,
        what is left (True: a timeout then means out of time, not a slow server)."""
        left = deadline.left_s()
        if left is None or left >= own_s:
            return own_s, False
        if left <= _LEAST_CALL_S:
            raise OutOfTimeError(f"out of time: no {what} with {max(left, 0.0):.2f} s left")
        return left, True

    def _connect(self) -> pg8000.native.Connection:
        if self._connection is None:
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
                if cut and _timed_out(error):
                    raise OutOfTimeError(f"out of time connecting to postgres after {timeout_s:.2f} s") from error
                raise TransientError(
                    f"postgres unreachable: cannot connect to {self._kwargs['host']}:"
                    f"{self._kwargs['port']} ({' '.join(str(error).split())})"
                ) from error
            # The startup exchange (TLS, then authentication: three round trips with SCRAM) answers at once from
            # a healthy server: each of its steps gets the connect timeout, or a share of what is left.
            left_after_connect = deadline.left_s()
            startup_s = self._connect_timeout_s
            if left_after_connect is not None:
                startup_s = min(startup_s, max(left_after_connect, 0.0) / (POSTGRES_CONNECT_STEPS - 1))
                cut = cut or startup_s < self._connect_timeout_s
            sock.settimeout(max(startup_s, 0.001))
            try:
                self._connection = pg8000.native.Connection(
                    **kwargs, sock=sock, startup_params={} if self.pooled else self._session
                )
            except (TimeoutError, InterfaceError, DatabaseError, OSError) as error:
                sock.close()
                if cut and _timed_out(error):
                    raise OutOfTimeError(
                        f"out of time starting a postgres session ({startup_s:.2f} s a step)"
                    ) from error
                refused = classify_database_error(error)
                if self._iam_auth and _sqlstate(error).startswith("28"):  # invalid authorization
                    # A token can be refused for a while (a policy still propagating, a clock off): the next
                    # connection brings a new one.
                    raise TransientError(f"{refused} (IAM token refused: rds-db:connect for this user?)") from error
                self._credentials_refused = _sqlstate(error).startswith("28")  # a rotated password, say
                raise refused from error
            self._socket_timeout_s = max(startup_s, 0.001)
            self._in_transaction = False
        return self._connection

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

    def _bound_next_call(self, connection: pg8000.native.Connection) -> bool:
        """Give the next statement the socket timeout it may use; True when the record's deadline cut it."""
        timeout_s, cut = self._timeout_s(self._read_timeout_s, "postgres statement")
        if timeout_s != self._socket_timeout_s:
            # pg8000 reads through its own socket (the TLS one, with sslmode): that is the one to bound.
            connection._usock.settimeout(timeout_s)
            self._socket_timeout_s = timeout_s
        return cut

    def run(self, sql: str, **params: Any) -> list[Row]:
        """Run one statement and return its rows as dicts: one round trip on the wire. A statement with
        parameters is prepared once per connection (one more trip, the first time); pg8000's unnamed
        path would cost three trips every time (parse, describe, bind and execute). Pooled, nothing is prepared,
        and a statement outside a transaction runs in one of its own (the settings hold only inside one)."""
        begins, ends = bool(_BEGINS.match(sql)), bool(_ENDS.match(sql))
        if self.pooled and _SESSION_SET.match(sql):
            raise PermanentError(f"{sql.split()[0].upper()} would outlive the transaction and pin a pooled session")
        if self.pooled and not self._in_transaction and not begins and not ends:
            with self.transaction():  # the settings hold only inside a transaction
                return self.run(sql, **params)
        if begins:
            sent = self.statements
            begin = f"{sql.strip().rstrip(';')}; {self._set_local}" if self.pooled else sql
            try:
                rows = self._run(begin, params)
            except BaseException:
                if self.statements != sent:
                    self.rollback()  # a BEGIN whose SET LOCAL failed would leave its transaction open, aborted
                raise
            self._in_transaction, self._begun_with, self._run_since_begin = True, begin, 0
            return rows
        if ends:
            try:
                return self._run(sql, params)
            except BaseException:
                # Failed, or never sent (out of time): the transaction may still be open, and the next BEGIN
                # would only draw a warning and commit this one's writes with its own. Never reuse the session.
                self.discard()
                raise
            finally:
                self._in_transaction = False
        return self._run(sql, params)

    def _run(self, sql: str, params: dict[str, Any]) -> list[Row]:
        connection = self._connect()
        cut = self._bound_next_call(connection)
        self.statements += 1
        self._run_since_begin += self._in_transaction
        prepared_before = False
        try:
            if params and (sql in self._prepared or len(self._prepared) < self._prepare_limit):
                prepared = self._prepared.get(sql)
                prepared_before = prepared is not None
                if prepared is None:
                    prepared = self._prepared[sql] = connection.prepare(sql)
                    cut = self._bound_next_call(connection) or cut  # the run is a second round trip
                rows, described = prepared.run(**params), prepared.columns
            else:  # no parameters: the simple protocol, one trip; else pg8000's unnamed path (three)
                rows = connection.run(sql, **params)
                described = connection.columns
        except (TimeoutError, InterfaceError, DatabaseError, OSError) as error:
            if _timed_out(error):
                # The server may still be running it, holding its transaction's locks: stop it there too.
                self.discard(cancel_running=True)
                if cut:
                    raise OutOfTimeError("out of time: the record's deadline cut a postgres statement short") from error
            domain_error = classify_database_error(error)
            if not isinstance(error, DatabaseError) or ends_session(error.args[0] if error.args else None):
                self.discard()  # the socket is in an unknown state, or the session can never write: never reuse it
            elif prepared_before and sql not in self._suspect and _may_be_stale(error, domain_error):
                # Once per statement until it succeeds: in a busy environment other records prepare it again
                # before this record's next attempt, and a statement that still fails is then judged as it is.
                self._suspect.add(sql)
                return self._run_prepared_anew(sql, params, domain_error, error)
            raise domain_error from error
        self._suspect.discard(sql)
        columns = [column["name"] for column in (described or [])]
        return [dict(zip(columns, row, strict=True)) for row in rows or []]

    def _run_prepared_anew(
        self, sql: str, params: dict[str, Any], domain_error: TransientError | PermanentError, error: DatabaseError
    ) -> list[Row]:
        """Judge a statement prepared before this call on a fresh preparation, once (a schema change moves them
        all: all are prepared anew). At once outside a transaction or right after BEGIN (begun again); later in
        one, the next attempt does, and classifies what stays (a bad statement is retried once, not for ever)."""
        in_transaction, first, begun_with = self._in_transaction, self._run_since_begin == 1, self._begun_with
        self._forget_prepared()
        if in_transaction and not first:
            raise TransientError(
                f"{domain_error} (on a statement prepared earlier: prepared anew next time)"
            ) from error
        if in_transaction:
            self._run(f"ROLLBACK; {begun_with}", {})  # one round trip; nothing had run in it yet
            self._run_since_begin = 0
        return self._run(sql, params)

    def _forget_prepared(self) -> None:
        """Forget the session's statements, on the server too (Close works in an aborted transaction too); if that
        fails, the session goes with them."""
        statements, self._prepared = list(self._prepared.values()), {}
        try:
            for statement in statements:
                if self._connection is not None:
                    self._bound_next_call(self._connection)
                    statement.close()
        except (InterfaceError, DatabaseError, OSError, OutOfTimeError):
            self.discard()

    @contextmanager
    def transaction(self) -> Iterator[PostgresDatabase]:
        """BEGIN ... COMMIT, or ROLLBACK on any error (a failed rollback discards the connection)."""
        self.run("BEGIN")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.run("COMMIT")

    def rollback(self) -> None:
        self._in_transaction = False
        if self._connection is None:
            return
        try:
            self._bound_next_call(self._connection)
            self._connection.run("ROLLBACK")
        except (InterfaceError, DatabaseError, OSError, OutOfTimeError):
            self.discard()

    def discard(self, *, cancel_running: bool = False) -> None:
        """Close the session; with `cancel_running`, cancel what it may still run first (its locks go now)."""
        connection, self._connection = self._connection, None
        self._in_transaction = False
        self._prepared.clear()  # prepared statements belong to the closed session
        if connection is not None:
            if cancel_running:
                bound_s = min(CANCEL_BOUND_S, self._connect_timeout_s)
                send_cancel_request(self._kwargs["host"], self._kwargs["port"], connection._backend_key_data, bound_s)
            # Closing a broken socket may fail; it is gone either way.
            with contextlib.suppress(InterfaceError, DatabaseError, OSError):
                connection.close()

    close = discard
