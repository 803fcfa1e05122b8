"""PostgreSQL errors by SQLSTATE: every class PostgreSQL documents (Appendix A), and the codes within a class
that decide otherwise, each with its reason. A code's own row wins over its class's row.

Verdicts: transient (retry with backoff), permanent (the dead-letter queue at once), busy (another recompute
holds the workspace: a delayed copy), gone (the workspace was deleted mid-recompute: a skip).
`classify_database_error` reads pg8000's errors into them, for the session and the statements alike.
"""

from __future__ import annotations

from pg8000.exceptions import DatabaseError

from shared.contracts.errors import BusyError, PermanentError, TransientError, WorkspaceGoneError

TRANSIENT, PERMANENT, BUSY, GONE = "transient", "permanent", "busy", "gone"

# SQLSTATE class (first two characters) -> (verdict, why)
CLASSES: dict[str, tuple[str, str]] = {
    "00": (PERMANENT, "successful completion: never an error; if one arrives, it is a bug"),
    "01": (PERMANENT, "warning: never raised as an error"),
    "02": (PERMANENT, "no data: never raised as an error"),
    "03": (PERMANENT, "SQL statement not yet complete"),
    "08": (TRANSIENT, "connection exception: the server or the network failed"),
    "09": (PERMANENT, "triggered action exception"),
    "0A": (PERMANENT, "feature not supported (a prepared plan gone stale is handled before this table)"),
    "0B": (PERMANENT, "invalid transaction initiation: a bug"),
    "0F": (PERMANENT, "locator exception"),
    "0L": (PERMANENT, "invalid grantor"),
    "0P": (PERMANENT, "invalid role specification"),
    "0Z": (PERMANENT, "diagnostics exception"),
    "20": (PERMANENT, "case not found"),
    "21": (PERMANENT, "cardinality violation: a query bug"),
    "22": (PERMANENT, "data exception: a value the query cannot take"),
    "23": (PERMANENT, "integrity constraint violation"),
    "24": (PERMANENT, "invalid cursor state"),
    "25": (PERMANENT, "invalid transaction state: a bug"),
    "26": (PERMANENT, "invalid SQL statement name (a prepared statement gone is handled before this table)"),
    "27": (PERMANENT, "triggered data change violation"),
    "28": (TRANSIENT, "invalid authorization: a rotated password; the next connection reads the secret again"),
    "2B": (PERMANENT, "dependent privilege descriptors still exist"),
    "2D": (PERMANENT, "invalid transaction termination"),
    "2F": (PERMANENT, "SQL routine exception"),
    "34": (PERMANENT, "invalid cursor name"),
    "38": (PERMANENT, "external routine exception"),
    "39": (PERMANENT, "external routine invocation exception"),
    "3B": (PERMANENT, "savepoint exception"),
    "3D": (PERMANENT, "invalid catalog name: the database does not exist"),
    "3F": (PERMANENT, "invalid schema name"),
    "40": (TRANSIENT, "transaction rollback: serialization failure, deadlock; the same work succeeds later"),
    "42": (PERMANENT, "syntax error or access rule violation: a bug, a missing table or a missing grant"),
    "44": (PERMANENT, "WITH CHECK OPTION violation"),
    "53": (TRANSIENT, "insufficient resources: disk, memory, connections free up"),
    "54": (PERMANENT, "program limit exceeded: the same statement hits it again"),
    "55": (PERMANENT, "object not in prerequisite state"),
    "57": (TRANSIENT, "operator intervention: a cancel, a shutdown, a restart"),
    "58": (TRANSIENT, "system error: I/O on the server"),
    "72": (TRANSIENT, "snapshot failure: snapshot too old; a new transaction takes a new one"),
    "F0": (PERMANENT, "configuration file error"),
    "HV": (PERMANENT, "foreign data wrapper error"),
    "P0": (PERMANENT, "PL/pgSQL error"),
    "XX": (PERMANENT, "internal error: data or index corruption needs an operator"),
}
# SQLSTATE -> (verdict, why), where a code decides otherwise than its class
CODES: dict[str, tuple[str, str]] = {
    "23503": (GONE, "foreign key violation: the workspace (Client) was deleted while it was recomputed"),
    "25006": (TRANSIENT, "read-only transaction: failover, the connection still reaches the demoted primary"),
    "25P03": (TRANSIENT, "idle in transaction session timeout: the server closed a slow transaction"),
    "25P04": (TRANSIENT, "transaction timeout (PostgreSQL 17)"),
    "55006": (TRANSIENT, "object in use by another session"),
    "55P03": (BUSY, "lock not available: lock_timeout while another recompute holds the workspace's rows"),
    "57P04": (PERMANENT, "database dropped"),
    "58P01": (PERMANENT, "undefined file: the server's installation is broken"),
    "58P02": (PERMANENT, "duplicate file"),
    "XX000": (TRANSIENT, "internal error without more detail: often a passing failure, retried with backoff"),
}

_ERRORS: dict[str, type[TransientError] | type[PermanentError]] = {
    TRANSIENT: TransientError,
    PERMANENT: PermanentError,
    BUSY: BusyError,
    GONE: WorkspaceGoneError,
}


def verdict(sqlstate: str) -> str:
    """The verdict for a SQLSTATE: its own row, else its class's; an unknown class is transient (the last
    attempt still reaches the dead-letter queue)."""
    row = CODES.get(sqlstate) or CLASSES.get(sqlstate[:2])
    return row[0] if row else TRANSIENT


# The foreign keys whose violation means the workspace itself is gone (the rows recount writes point at it);
# any other foreign key failing is a contract problem, not a deletion.
WORKSPACE_FOREIGN_KEYS = frozenset({"InboxCounts_clientId_fkey", "AnalyticsDailyAggregates_clientId_fkey"})


def classify_sqlstate(sqlstate: str, message: str, *, constraint: str | None = None) -> TransientError | PermanentError:
    decided = verdict(sqlstate)
    if decided == GONE and constraint not in WORKSPACE_FOREIGN_KEYS:
        decided = PERMANENT
    return _ERRORS[decided](message)


def ends_session(fields: object) -> bool:
    """Whether the session that raised this error must not be used again: a FATAL or PANIC error, a broken connection
    (class 08), an operator ending it (57P0x), or a read-only transaction (25006: after a failover the session
    still reaches the demoted primary, so only a new connection can reach the new one)."""
    if not isinstance(fields, dict):
        return True
    code = str(fields.get("C", ""))
    return (
        fields.get("S") in ("FATAL", "PANIC")
        or fields.get("V") in ("FATAL", "PANIC")
        or code[:2] == "08"
        or code.startswith("57P")
        or code == "25006"
    )


def classify_database_error(error: BaseException) -> TransientError | PermanentError:
    """Map a driver error to a domain error with a one-line message."""
    if isinstance(error, DatabaseError) and error.args and isinstance(error.args[0], dict):
        fields: dict[str, str] = error.args[0]
        code = fields.get("C", "")
        message = f"postgres {code}: {' '.join(fields.get('M', '').split())}"
        return classify_sqlstate(code, message, constraint=fields.get("n"))
    return TransientError(f"postgres unreachable: {' '.join(str(error).split()) or type(error).__name__}")


def error_sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a server's error; "" for anything else."""
    fields = error.args[0] if isinstance(error, DatabaseError) and error.args else None
    return str(fields.get("C", "")) if isinstance(fields, dict) else ""


def timed_out(error: BaseException | None) -> bool:
    """A socket timeout, even wrapped by pg8000 ("network error" from it): not a server that hung up."""
    while error is not None:
        if isinstance(error, TimeoutError):
            return True
        error = error.__cause__ or error.__context__
    return False
