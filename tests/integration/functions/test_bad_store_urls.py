"""A malformed store URL through the real inbox handler: the record goes to the dead-letter queue at once, with
a one-line reason naming what is wrong (never retried, never a bare ValueError from a driver); in Lambda the
same error stops the function at init, as any bad setting does."""

from __future__ import annotations

import pytest

from shared.adapters.sqs import REASON_ATTRIBUTE
from shared.contracts.settings import EnvVar
from tests.builders import Workspace
from tests.integration.functions.harness import AwsFixture, FunctionUnderTest, load_handler
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.functions.test_poison_messages import attribute


@pytest.mark.parametrize(
    ("variable", "url", "reason"),
    [
        (EnvVar.DATABASE_URL, "postgresql://postgres@db1:5432,db2:5432/app", "DATABASE_URL names several hosts"),
        (EnvVar.DATABASE_URL, "postgresql://postgres@127.0.0.1/app?sslmode=on", "DATABASE_URL: invalid sslmode value"),
        (EnvVar.REDIS_URL, "http://127.0.0.1:6379/0", "REDIS_URL must start with redis://"),
        (EnvVar.REDIS_URL, "redis://127.0.0.1:port/0", "REDIS_URL: the port must be a number"),
    ],
)
def test_given_a_malformed_store_url_then_the_record_is_dead_lettered_with_the_reason(
    function_env: AwsFixture,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    variable: EnvVar,
    url: str,
    reason: str,
) -> None:
    monkeypatch.setenv(str(variable), url)
    function = FunctionUnderTest(load_handler("inbox_counts_recompute"), function_env)  # reads the bad URL
    try:
        workspace.mark_dirty()
        function.aws.send("counts", dirty_body(workspace.id))
        assert function.poll("counts")["failed"] == set()  # dead-lettered on its first attempt, not retried
        [message] = function.aws.drain(function.aws.queues["counts"].dlq_url)
        assert attribute(message, REASON_ATTRIBUTE).startswith(reason)
        assert "\n" not in attribute(message, REASON_ATTRIBUTE)
        assert workspace.dirty_marker() is not None  # nothing ran
    finally:
        function.clients.close()
