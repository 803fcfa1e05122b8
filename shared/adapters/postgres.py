"""PostgreSQL adapter: runs statements on a PostgresSession (prepared once per connection, judged again on a fresh
preparation when a migration may have made one stale) and turns the driver's errors into domain errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from shared.adapters.postgres_errors import classify_database_error, ends_session, error_sqlstate, timed_out
from shared.adapters.postgres_session import PostgresSession
from shared.adapters.secrets import StoreUrl
from shared.contracts.errors import OutOfTimeError, PermanentError, TransientError, WorkspaceGoneError
from shared.contracts.store_settings import PooledMode
from shared.contracts.time_budget import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_STATEMENT_TIMEOUT_MS,
)

Row = dict[str, Any]

_MAX_PREPARED = 64  # distinct statements kept prepared per connection (a bound on the server's memory)


def _may_be_stale(error: DatabaseError, domain_error: TransientError | PermanentError) -> bool:
    """Whether a statement prepared earlier may have failed for its preparation: after a migration (class 42, such
    as 42883 uuid = text or 42804; 0A000 cached plan must not change result type), after DEALLOCATE (26000). A data
    error (class 22, 23, P0) fails the same on any preparation, so it is judged at once."""
    code = error_sqlstate(error)
    stale = code in ("0A000", "26000") or code.startswith("42")
    return stale and isinstance(domain_error, PermanentError) and not isinstance(domain_error, WorkspaceGoneError)


# Statements that open or end a transaction (whole statements only: ROLLBACK TO SAVEPOINT ends nothing). A BEGIN
# may carry SET LOCAL statements in the same message (the transaction's own settings, sent with no trip of their own),
# and nothing else: no comment (pooled, the session's SET LOCALs go in right after the BEGIN, where a comment would
# hide them), no ';' in a value, no other statement. Any other BEGIN is refused: pooled, it would run inside a
# transaction of the session's own, committed at once, and the caller's statements each in one of their own.
_OPENS = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)
_BEGINS = re.compile(
    r"^(?!.*(--|/\*))\s*(BEGIN|START\s+TRANSACTION)\b[^;]*(;\s*SET\s+LOCAL\s[^;]+)*;?\s*$", re.IGNORECASE | re.DOTALL
)
_ENDS = re.compile(
    r"^\s*(COMMIT|END|ROLLBACK|ABORT)(\s+(WORK|TRANSACTION))?(\s+AND\s+NO\s+CHAIN)?\s*;?\s*$", re.IGNORECASE
)
# Any other statement that starts as an end does end the transaction (a comment after a COMMIT, COMMIT AND CHAIN)
# unless it returns to a savepoint or finishes a prepared one: refused, or the session would go on as if still in
# it (pooled, each next statement in a transaction of its own, without the settings).
_CLOSES = re.compile(r"^\s*(COMMIT|END|ROLLBACK|ABORT)\b(?!\s+((WORK|TRANSACTION)\s+)?(TO|PREPARED)\b)", re.IGNORECASE)
# Session state a pooler would pin the session for (SET LOCAL and SET TRANSACTION are the transaction's).
_SESSION_SET = re.compile(r"^\s*(SET(?!\s+(LOCAL|TRANSACTION)\b)|RESET)\b", re.IGNORECASE)


class PostgresDatabase:
    """Statements on one session (shared/adapters/postgres_session.py), which connects, sets the session's settings
    and bounds each call by the record's deadline; a failed session is discarded and the next statement opens one.

    Through a transaction pooler (`pooled`) a statement outside a transaction runs in one of its own (the settings
    hold only inside one) and no statement is prepared by name."""

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
        self._session = PostgresSession(
            url,
            statement_timeout_ms=statement_timeout_ms,
            lock_timeout_ms=lock_timeout_ms,
            connect_timeout_s=connect_timeout_s,
            pooled=pooled,
            iam_auth=iam_auth,
        )
        self._in_transaction = False
        self._begun_with = ""  # the open transaction's BEGIN, as sent
        self._run_since_begin = 0  # statements run in the open transaction after its BEGIN
        self._prepared: dict[str, pg8000.native.PreparedStatement] = {}
        self._suspect: set[str] = set()  # statements prepared anew after an error, until one of them succeeds
        self._prepare_limit = _MAX_PREPARED if prepared_statements and not self.pooled else 0
        self.statements = 0  # statements sent; wire round trips are counted outside (recount.wire)

    @property
    def pooled(self) -> bool:
        return self._session.pooled

    def run(self, sql: str, **params: Any) -> list[Row]:
        """Run one statement and return its rows as dicts: one round trip on the wire. A statement with
        parameters is prepared once per connection (one more trip, the first time); pg8000's unnamed
        path would cost three trips every time (parse, describe, bind and execute). Pooled, nothing is prepared,
        and a statement outside a transaction runs in one of its own (the settings hold only inside one)."""
        begins, ends = bool(_OPENS.match(sql)), bool(_ENDS.match(sql))
        if begins and not _BEGINS.match(sql):
            raise PermanentError(f"a BEGIN the session cannot follow (SET LOCALs only, no comment): {sql[:80]!r}")
        if not ends and _CLOSES.match(sql):
            raise PermanentError(f"an end of a transaction the session cannot follow: {sql[:80]!r}")
        if self.pooled and _SESSION_SET.match(sql):
            raise PermanentError(f"{sql.split()[0].upper()} would outlive the transaction and pin a pooled session")
        if self.pooled and not self._in_transaction and not begins and not ends:
            with self.transaction():  # the settings hold only inside a transaction
                return self.run(sql, **params)
        if begins:
            sent = self.statements
            begin = self._session.begin_sql(sql)
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
        connection = self._session.connect()
        cut = self._session.bound_next_call(connection)
        self.statements += 1
        self._run_since_begin += self._in_transaction
        prepared_before = False
        try:
            if params and (sql in self._prepared or len(self._prepared) < self._prepare_limit):
                prepared = self._prepared.get(sql)
                prepared_before = prepared is not None
                if prepared is None:
                    prepared = self._prepared[sql] = connection.prepare(sql)
                    cut = self._session.bound_next_call(connection) or cut  # the run is a second round trip
                rows, described = prepared.run(**params), prepared.columns
            else:  # no parameters: the simple protocol, one trip; else pg8000's unnamed path (three)
                rows = connection.run(sql, **params)
                described = connection.columns
        except (TimeoutError, InterfaceError, DatabaseError, OSError) as error:
            if timed_out(error):
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
                if self._session.connection is not None:
                    self._session.bound_next_call(self._session.connection)
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
        connection = self._session.connection
        if connection is None:
            return
        try:
            self._session.bound_next_call(connection)
            connection.run("ROLLBACK")
        except (InterfaceError, DatabaseError, OSError, OutOfTimeError):
            self.discard()

    def discard(self, *, cancel_running: bool = False) -> None:
        """Close the session; with `cancel_running`, cancel what it may still run first (its locks go now)."""
        self._in_transaction = False
        self._prepared.clear()  # prepared statements belong to the closed session
        self._session.discard(cancel_running=cancel_running)

    close = discard
