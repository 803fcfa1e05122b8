"""Driver errors are classified by type: every redis-py exception class and every PostgreSQL SQLSTATE class
has a row, and each row gives the domain error it names."""

from __future__ import annotations

import inspect

import pytest
from pg8000.exceptions import DatabaseError
from redis import exceptions as redis_exceptions

from shared.adapters.postgres_errors import (
    BUSY,
    CLASSES,
    CODES,
    GONE,
    PERMANENT,
    TRANSIENT,
    classify_database_error,
    ends_session,
    verdict,
)
from shared.adapters.redis_errors import REDIS_ERRORS, classify_redis_error
from shared.contracts.errors import BusyError, PermanentError, TransientError, WorkspaceGoneError

# PostgreSQL's documented SQLSTATE classes (Appendix A, "PostgreSQL Error Codes").
DOCUMENTED_CLASSES = [
    "00",
    "01",
    "02",
    "03",
    "08",
    "09",
    "0A",
    "0B",
    "0F",
    "0L",
    "0P",
    "0Z",
    "20",
    "21",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",
    "28",
    "2B",
    "2D",
    "2F",
    "34",
    "38",
    "39",
    "3B",
    "3D",
    "3F",
    "40",
    "42",
    "44",
    "53",
    "54",
    "55",
    "57",
    "58",
    "72",
    "F0",
    "HV",
    "P0",
    "XX",
]
DOMAIN = {TRANSIENT: TransientError, PERMANENT: PermanentError, BUSY: BusyError, GONE: WorkspaceGoneError}


def redis_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(redis_exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__.startswith("redis")
    ]


def instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, redis_exceptions.AskError):  # parses "<slot> <host>:<port>"
        return cls("3999 127.0.0.1:6381")
    return cls("the server said no")


def test_every_redis_exception_class_has_a_row() -> None:
    assert [cls.__name__ for cls in redis_classes() if cls not in REDIS_ERRORS] == []


@pytest.mark.parametrize("cls", list(REDIS_ERRORS), ids=lambda cls: cls.__name__)
def test_each_redis_row_gives_its_domain_error(cls: type[BaseException]) -> None:
    expected, why = REDIS_ERRORS[cls]
    error = classify_redis_error(instance(cls))
    assert type(error) is DOMAIN[expected] and why


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # The failover case that used to be dead-lettered after a commit: redis-py strips the READONLY code.
        (redis_exceptions.ReadOnlyError("You can't write against a read only replica."), TransientError),
        (
            redis_exceptions.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
            TransientError,
        ),
        (redis_exceptions.BusyLoadingError("Redis is loading the dataset in memory"), TransientError),
        (redis_exceptions.TryAgainError("Multiple keys request during rehashing of slot"), TransientError),
        (redis_exceptions.ResponseError("BUSY Redis is busy running a script."), TransientError),
        (redis_exceptions.ResponseError("NOREPLICAS Not enough good replicas to write. script: abc"), TransientError),
        (redis_exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots, but..."), TransientError),
        (redis_exceptions.ResponseError("ERR unknown command 'EVALSHA_RO'"), PermanentError),
        (
            redis_exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            PermanentError,
        ),
    ],
)
def test_redis_failover_errors_are_transient_and_refusals_permanent(
    error: BaseException, expected: type[Exception]
) -> None:
    assert type(classify_redis_error(error)) is expected


def test_every_documented_sqlstate_class_has_a_row_with_a_reason() -> None:
    assert sorted(set(DOCUMENTED_CLASSES) - set(CLASSES)) == []
    assert all(why for _, why in CLASSES.values()) and all(why for _, why in CODES.values())
    assert all(code[:2] in CLASSES for code in CODES)


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("25006", TransientError),  # read-only transaction: a failover in progress
        ("53300", TransientError),  # too many connections
        ("57P01", TransientError),  # admin shutdown
        ("57014", TransientError),  # statement timeout
        ("40001", TransientError),  # serialization failure
        ("40P01", TransientError),  # deadlock
        ("08006", TransientError),  # connection failure
        ("55P03", BusyError),  # lock_timeout: another recompute holds the rows
        ("23505", PermanentError),  # unique violation: a bug
        ("42P01", PermanentError),  # undefined table
        ("28P01", TransientError),  # password authentication failed: a rotation; the secret is read again
        ("28000", TransientError),  # invalid authorization specification
        ("57P04", PermanentError),  # database dropped
        ("XX001", PermanentError),  # data corrupted
        ("ZZ999", TransientError),  # an undocumented class: retried, the last attempt still dead-letters
    ],
)
def test_sqlstates_map_to_their_domain_errors(sqlstate: str, expected: type[Exception]) -> None:
    error = classify_database_error(DatabaseError({"S": "ERROR", "C": sqlstate, "M": "it  failed\nhere"}))
    assert type(error) is expected
    assert str(error) == f"postgres {sqlstate}: it failed here"


@pytest.mark.parametrize("code", list(CODES))
def test_each_code_row_decides(code: str) -> None:
    assert verdict(code) == CODES[code][0]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("InboxCounts_clientId_fkey", WorkspaceGoneError),  # the workspace was deleted mid-recompute
        ("AnalyticsDailyAggregates_clientId_fkey", WorkspaceGoneError),
        ("AppNotes_inboxCountsId_fkey", PermanentError),  # another table's key: a contract problem, not a deletion
        (None, PermanentError),
    ],
)
def test_a_foreign_key_violation_is_a_deletion_only_on_the_workspace_s_own_keys(
    constraint: str | None, expected: type[Exception]
) -> None:
    fields = {"S": "ERROR", "C": "23503", "M": "violates foreign key", **({"n": constraint} if constraint else {})}
    assert type(classify_database_error(DatabaseError(fields))) is expected


@pytest.mark.parametrize(
    ("fields", "ends"),
    [
        ({"S": "ERROR", "C": "25006"}, True),  # read-only: the session reaches a demoted primary
        ({"S": "FATAL", "C": "57P01"}, True),
        ({"S": "ERROR", "C": "08006"}, True),
        ({"S": "ERROR", "C": "55P03"}, False),  # busy: the session is fine
        ({"S": "ERROR", "C": "23505"}, False),
        ("not a dict", True),
    ],
)
def test_which_errors_end_the_session(fields: object, ends: bool) -> None:
    assert ends_session(fields) is ends


def test_a_lock_timeout_not_below_the_statement_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from shared.contracts.store_settings import StoreSettings

    monkeypatch.setenv("STATEMENT_TIMEOUT_MS", "500")
    monkeypatch.setenv("LOCK_TIMEOUT_MS", "2000")
    with pytest.raises(ValidationError, match="must be less than STATEMENT_TIMEOUT_MS"):
        StoreSettings()
