"""redis-py's exceptions, each mapped to transient or permanent by its class (never by its message text).

The class is looked up along the error's MRO, so a subclass redis-py adds later inherits its parent's row.
tests/unit/test_error_tables.py checks every class redis.exceptions defines has a row.
"""

from __future__ import annotations

import re

from redis import exceptions as e
from redis._parsers import BaseParser

from shared.contracts.errors import PermanentError, TransientError

TRANSIENT, PERMANENT = "transient", "permanent"

# class -> (verdict, why)
REDIS_ERRORS: dict[type[BaseException], tuple[str, str]] = {
    e.RedisError: (TRANSIENT, "unknown: retrying is the safe default, the last attempt still reaches the DLQ"),
    e.ConnectionError: (TRANSIENT, "the server is unreachable or closed the connection"),
    e.TimeoutError: (TRANSIENT, "the server did not answer in time"),
    e.BusyLoadingError: (TRANSIENT, "a restarted or promoted server is still loading its data"),
    e.MaxConnectionsError: (TRANSIENT, "the pool is exhausted for now"),
    e.AuthenticationError: (TRANSIENT, "credentials being rotated; a persistent failure ends in the DLQ"),
    e.ExternalAuthProviderError: (TRANSIENT, "the token provider may answer later"),
    e.AuthorizationError: (PERMANENT, "the ACL refuses this user: a configuration to fix"),
    e.InvalidResponse: (TRANSIENT, "a reply cut off mid-way (connection reset): the next connection is clean"),
    e.ResponseError: (PERMANENT, "the server refused the command itself: a bug or a misconfiguration"),
    e.ReadOnlyError: (TRANSIENT, "failover: the endpoint still reaches the demoted primary, now a replica"),
    e.NoScriptError: (TRANSIENT, "the script cache was emptied (failover, restart); redis-py loads it again"),
    e.OutOfMemoryError: (TRANSIENT, "maxmemory reached: eviction or scaling frees it; the alarms show it"),
    e.ExecAbortError: (PERMANENT, "a command in the transaction was refused when queued"),
    e.NoPermissionError: (PERMANENT, "the ACL refuses a command or key: a configuration to fix"),
    e.ModuleError: (PERMANENT, "a module command failed"),
    e.NoSuchFieldsetError: (PERMANENT, "a command on a field set that does not exist"),
    e.AuthenticationWrongNumberOfArgsError: (PERMANENT, "AUTH with a username on a server without ACLs"),
    e.ClusterError: (TRANSIENT, "the cluster is reconfiguring"),
    e.ClusterDownError: (TRANSIENT, "CLUSTERDOWN: slots not served until the cluster heals"),
    e.MasterDownError: (TRANSIENT, "MASTERDOWN: the replica lost its primary during a failover"),
    e.TryAgainError: (TRANSIENT, "TRYAGAIN: a slot is migrating"),
    e.AskError: (TRANSIENT, "ASK: a slot is migrating; a cluster client follows it"),
    e.MovedError: (TRANSIENT, "MOVED: the slot has a new owner; a cluster client follows it"),
    e.ClusterCrossSlotError: (PERMANENT, "CROSSSLOT: keys of one command in different slots: a bug"),
    e.RedisClusterException: (TRANSIENT, "the cluster client could not route the command now"),
    e.SlotNotCoveredError: (TRANSIENT, "no node serves the slot until the cluster heals"),
    e.CrossSlotTransactionError: (PERMANENT, "a transaction across slots: a bug"),
    e.InvalidPipelineStack: (PERMANENT, "a pipeline used wrongly: a bug"),
    e.DataError: (PERMANENT, "an argument redis-py refuses to send: a bug"),
    e.PubSubError: (PERMANENT, "pub/sub used wrongly: a bug (recount does not subscribe)"),
    e.WatchError: (TRANSIENT, "a watched key changed: the next attempt reads it again"),
    e.LockError: (TRANSIENT, "a redis-py lock not acquired or lost: the next attempt tries again"),
    e.LockNotOwnedError: (TRANSIENT, "a redis-py lock expired under its holder"),
    e.ChildDeadlockedError: (PERMANENT, "a client used across fork(): a bug"),
    e.IncorrectPolicyType: (PERMANENT, "a client misconfigured: a bug"),
}


# Error codes the server sends that redis-py leaves as a plain ResponseError (the code then still leads the
# message: it is the protocol's error type, not prose).
UNMAPPED_CODES: dict[str, tuple[str, str]] = {
    "BUSY": (TRANSIENT, "a long script or function is running: its end or SCRIPT KILL frees the server"),
    "NOREPLICAS": (TRANSIENT, "min-replicas-to-write not met: the replicas come back"),
    "MISCONF": (TRANSIENT, "the server refuses writes after a failed RDB save: the next save clears it"),
}
# Errors after which the connection is not reused: it still reaches a server that a failover demoted, and its
# health check (PING) would pass; a new connection follows the endpoint to the new primary.
RECONNECT: tuple[type[BaseException], ...] = (e.ReadOnlyError, e.MasterDownError)
# The server refused the client's credentials (WRONGPASS, NOAUTH; "invalid password" before Redis 6): a rotated
# password, say. The store reads its URL (the secret) again and makes a new client.
CREDENTIALS_REFUSED: tuple[type[BaseException], ...] = (e.AuthenticationError,)


# Redis < 7 wraps an error that redis.call raised inside a script as ERR: "Error running script (call to f_<sha>):
# @user_script:<line>: [@user_script: <line>: ][-]<CODE> <message>". Redis 7 leads with the inner code itself.
_WRAPPED_IN_SCRIPT = re.compile(
    r"Error running script \(call to f_[0-9a-f]+\): (?:@user_script: ?\d+: )+-?(?P<inner>[A-Z]+ .*)", re.S
)


def carried_error(error: BaseException) -> BaseException:
    """The error a script's redis.call met, as redis-py raises it outside a script; else `error` itself."""
    if type(error) is e.ResponseError and (wrapped := _WRAPPED_IN_SCRIPT.fullmatch(str(error))):
        # redis-py's own code -> class table, so the inner error is the class it has outside a script
        inner: BaseException = BaseParser.parse_error(wrapped["inner"])  # type: ignore[no-untyped-call]
        return inner
    return error


def classify_redis_error(error: BaseException) -> TransientError | PermanentError:
    message = " ".join(str(error).split()) or type(error).__name__
    error = carried_error(error)
    verdict = next((REDIS_ERRORS[cls][0] for cls in type(error).__mro__ if cls in REDIS_ERRORS), TRANSIENT)
    if type(error) is e.ResponseError and (code := str(error).split(" ", 1)[0]) in UNMAPPED_CODES:
        verdict = UNMAPPED_CODES[code][0]
    if verdict == PERMANENT:
        return PermanentError(f"redis: {message}")
    return TransientError(f"redis unavailable: {message}")
