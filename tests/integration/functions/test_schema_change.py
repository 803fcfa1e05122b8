"""The app's migration lands under a warm inbox function: its statements were prepared on the old schema.

`@db.Timestamptz(3)` on the dirty marker's time changes a column both recompute statements return: PostgreSQL
refuses a statement prepared before it (0A000 cached plan must not change result type). The same path serves
42883 after `@db.Uuid` (tests/integration/test_postgres_prepared_anew.py); recount's own statements cast the
workspace id to text (hashtext, CAST AS text), so on a uuid Client.id no preparation of them runs, warm or fresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.contracts.events import EventName, new_event, to_body
from tests.builders import Workspace
from tests.integration.functions.harness import FunctionUnderTest
from tests.integration.schema_change import DIRTY_AT_TO_TIMESTAMPTZ, apply, own_database


@pytest.fixture
def database_url() -> Iterator[str]:
    """This module changes the schema: a database of its own for each test."""
    with own_database() as url:
        yield url


def dirty_body(client_id: str) -> str:
    return to_body(new_event(EventName.INBOX_COUNTS_DIRTY, client_id=client_id, source="webhook"))


def test_given_a_warm_function_when_the_app_migrates_then_the_next_message_completes_on_its_first_attempt(
    inbox_function: FunctionUnderTest, workspace: Workspace, database_url: str
) -> None:
    # Given a warm execution environment: its session prepared the lock and recompute statements
    workspace.lead(assignedToUserId="s1")
    workspace.mark_dirty()
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    assert inbox_function.poll("counts")["failed"] == set()
    # When the app's migration runs, and then a change and its message arrive
    apply(database_url, DIRTY_AT_TO_TIMESTAMPTZ)
    workspace.lead(assignedToUserId="s2")
    workspace.mark_dirty()
    inbox_function.aws.send("counts", dirty_body(workspace.id))
    result = inbox_function.poll("counts")
    # Then it completes at once: not handed back, nothing dead-lettered, the counts are the new ones
    assert result["failed"] == set()
    queues = inbox_function.aws.queues["counts"]
    assert inbox_function.aws.depth(queues.url) == (0, 0)
    assert inbox_function.aws.depth(queues.dlq_url) == (0, 0)
    counts = workspace.counts()
    assert counts["global"]["total"] == 2 and counts["s1"]["total"] == 1 and counts["s2"]["total"] == 1
    assert workspace.dirty_marker() is None
