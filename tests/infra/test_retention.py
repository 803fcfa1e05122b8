"""What a stack keeps: the fixed-name resources outlive its deletion and updates, never a failed first create.

`Retain` would keep them when the first create rolls back too, and the retry would then fail on "already exists";
`RetainExceptOnCreate` deletes what the failed create made. The names kept are those preflight looks for.
"""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from shared.topology import FUNCTIONS, QUEUES, SCHEDULES_DEAD_LETTER_NAME, idempotency_table_name
from tests.infra.conftest import of_type

PREFIX = "recount-dev"
KEPT = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}


def test_each_fixed_name_resource_is_kept_on_delete_and_replace_but_not_after_a_failed_first_create(
    template: Template, resources: dict[str, dict[str, Any]]
) -> None:
    # Given the names preflight reports as left by an earlier deploy
    dead_letters = [q.dead_letter_name(PREFIX) for q in QUEUES.values()] + [f"{PREFIX}-{SCHEDULES_DEAD_LETTER_NAME}"]
    log_groups = [f"/aws/lambda/{f.physical_name(PREFIX)}" for f in FUNCTIONS.values()]
    # Then each is kept except after a failed create
    for name in dead_letters:
        template.has_resource("AWS::SQS::Queue", {**KEPT, "Properties": Match.object_like({"QueueName": name})})
    for name in log_groups:
        template.has_resource("AWS::Logs::LogGroup", {**KEPT, "Properties": Match.object_like({"LogGroupName": name})})
    template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {**KEPT, "Properties": Match.object_like({"TableName": idempotency_table_name(PREFIX)})},
    )
    # And nothing else is kept, and nothing at all survives a failed first create
    kept = [r for r in resources.values() if r.get("DeletionPolicy", "Delete") != "Delete"]
    assert len(kept) == len(dead_letters) + len(log_groups) + 1, [r["Type"] for r in kept]
    assert {r.get("DeletionPolicy") for r in resources.values()} <= {None, "Delete", "RetainExceptOnCreate"}


def test_the_alarm_topic_key_goes_with_the_stack(resources: dict[str, dict[str, Any]]) -> None:
    # The key encrypts only alarm notifications in flight: nothing outlives the stack that needs it
    (key,) = of_type(resources, "AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Delete" and key["UpdateReplacePolicy"] == "Delete"
    assert key["Properties"]["PendingWindowInDays"] == 7
