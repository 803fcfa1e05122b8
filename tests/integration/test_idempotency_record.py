"""The idempotency record across a deploy: what the typed outcome stores is what the dict it replaced stored,
plus the inbox pass that ran (`pass`, added last: a record without it reads as the full pass).

A record lives for IDEMPOTENCY_TTL_SECONDS, so during a deploy the old code (a plain dict through Powertools'
default serializer) and the new (`OutcomeRecord` through `PydanticSerializer`) replay each other's. moto in
process for DynamoDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from moto import mock_aws

from recount.local.provision import create_idempotency_table
from shared.adapters.idempotency import KEY_PREFIX, IdempotencyGuard
from shared.contracts.keys import JobName
from shared.contracts.outcome import OutcomeRecord

TABLE = "recount-idempotency-test"
DIRTY_AT = datetime(2026, 12, 6, 9, 30, 15, 250000)  # naive, as PostgreSQL's timestamp column reads back

# What main's shared.domain.jobs.outcome_record stored, key for key.
OLD_FORM: dict[str, Any] = {
    "clientId": "ws-1",
    "job": JobName.INBOX_COUNTS.value,
    "changed": True,
    "version": 42,
    "rowsWritten": 3,
    "rowsDeleted": 1,
    "markerCleared": True,
    "durationMs": 17,
    "workspaceExists": True,
    "dirtyAt": DIRTY_AT.isoformat(),
    "changeStamp": "2026-12-06T09:30:15.250000",
}


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_idempotency_table(client, TABLE)
        yield client


def guard() -> IdempotencyGuard:
    return IdempotencyGuard(TABLE, expires_after_seconds=3600)


def run_as_the_old_code(key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The adapter as it was before the typed outcome: a dict, Powertools' default (no-op) serializer."""

    def recompute_once(job: dict[str, Any]) -> dict[str, Any]:
        return job["work"]()  # type: ignore[no-any-return]

    once = idempotent_function(
        data_keyword_argument="job",
        persistence_store=DynamoDBPersistenceLayer(table_name=TABLE),
        config=IdempotencyConfig(event_key_jmespath="key", raise_on_no_idempotency_key=True),
        key_prefix=KEY_PREFIX,
    )(recompute_once)
    return once(job={"key": key, "work": work})  # type: ignore[no-any-return]


def stored_data(dynamodb: Any) -> list[str]:
    return [item["data"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"]]


def never() -> OutcomeRecord:
    raise AssertionError("a replay must not run the work again")


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")  # no Lambda context here
def test_given_a_record_the_old_code_stored_when_the_new_code_replays_it_then_it_reads_the_typed_outcome(
    dynamodb: Any,
) -> None:
    # Given a record stored by the code before the typed outcome
    run_as_the_old_code("inbox_counts:ws-1:gen:g1", lambda: dict(OLD_FORM))
    # When the new code runs the same key
    outcome, replayed = guard().run_once("inbox_counts:ws-1:gen:g1", never)
    # Then it is a replay, read back as the typed outcome
    assert replayed
    assert outcome.client_id == "ws-1" and outcome.job is JobName.INBOX_COUNTS and outcome.version == 42
    assert outcome.duration_ms == 17 and outcome.marker_cleared and outcome.dirty_at == DIRTY_AT
    assert outcome.rows_written == 3 and outcome.rows_deleted == 1 and outcome.change_stamp == OLD_FORM["changeStamp"]


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")
def test_given_a_record_the_new_code_stored_then_it_is_the_old_json_and_the_old_code_replays_it(dynamodb: Any) -> None:
    # Given one record stored by the old code and the same outcome stored by the new
    run_as_the_old_code("old", lambda: dict(OLD_FORM))
    outcome, replayed = guard().run_once("new", lambda: OutcomeRecord.model_validate(OLD_FORM))
    assert not replayed and outcome.dirty_at == DIRTY_AT
    # Then the new stored JSON is the old one, same keys and same values, and the pass
    old, new = stored_data(dynamodb)
    assert json.loads(new) == {**json.loads(old), "pass": "full"}
    # And the old code replays the new record as the dict it always read (its keys read with .get; one more)
    assert run_as_the_old_code("new", lambda: {}) == {**OLD_FORM, "pass": "full"}


@pytest.mark.parametrize(
    "dirty_at",
    [None, datetime(2026, 12, 6, 9, 30), datetime(2026, 12, 6, 9, 30, 0, 1), DIRTY_AT],
    ids=["none", "whole-seconds", "one-microsecond", "fraction"],
)
def test_the_outcome_dumps_dirty_at_as_isoformat_did(dirty_at: datetime | None) -> None:
    # pydantic's own JSON form would differ (trailing zeros, "Z"): the stored string must not
    record = OutcomeRecord.model_validate({**OLD_FORM, "dirtyAt": dirty_at})
    dumped = record.model_dump(mode="json")
    assert dumped == {**OLD_FORM, "dirtyAt": dirty_at.isoformat() if dirty_at else None, "pass": "full"}
    assert list(dumped) == [*OLD_FORM, "pass"]
    assert OutcomeRecord.model_validate(dumped) == record
