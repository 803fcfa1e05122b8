"""The fault table's row for versions Redis lost: after two rounds of changes, one workspace's version and applied
stamp are set back to the first round's (a restore from a snapshot), another's are deleted (a failover before the
replica had them). The inbox sweep puts both back as they were, and the next change yields a version never seen
before for that workspace."""

from __future__ import annotations

from datetime import datetime

from shared.contracts.keys import JobName, applied_stamp_key, legacy_applied_stamp_key, version_key
from shared.domain.sweep import sweep_inbox
from tests.builders import Workspace
from tests.integration.faults.ledger import FunctionLogs, Ledger
from tests.integration.faults.test_fault_table import dirty_workspaces
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import Rig

JOB = JobName.INBOX_COUNTS


def change(ledger: Ledger, workspace: Workspace) -> None:
    """An app write that changes the counts, its dirty mark and its event."""
    workspace.lead(status="new", sentimentTag="Interested", lastInboundAt=datetime(2026, 1, 3))
    workspace.mark_dirty()
    ledger.inject(dirty_body(workspace.id), client_id=workspace.id)


def keys(client_id: str) -> tuple[str, str, str]:
    return version_key(JOB, client_id), applied_stamp_key(JOB, client_id), legacy_applied_stamp_key(JOB, client_id)


def test_versions_lost_by_redis_are_put_back_and_never_repeated(rig: Rig, function_logs: FunctionLogs) -> None:
    ledger = Ledger(rig, function_logs)
    redis = rig.raw_redis
    restored, deleted, kept = dirty_workspaces(rig, 3)
    for workspace in (restored, deleted, kept):
        ledger.inject(dirty_body(workspace.id), client_id=workspace.id)
    ledger.settle()
    snapshot = {key: redis.get(key) for key in keys(restored.id)}  # the first round's keys, as a snapshot has them
    seen = {workspace.id: {workspace.inbox_version()} for workspace in (restored, deleted, kept)}
    for workspace in (restored, deleted, kept):
        change(ledger, workspace)
    ledger.settle()
    for workspace in (restored, deleted, kept):
        seen[workspace.id].add(workspace.inbox_version())
        assert len(seen[workspace.id]) == 2  # two changes, two versions
    published = {workspace.id: redis.get(version_key(JOB, workspace.id)) for workspace in (restored, deleted, kept)}

    # The fault: Redis restored from the snapshot for one workspace, the last writes lost for another
    for key, value in snapshot.items():
        assert value is not None
        redis.set(key, value)
    for key in keys(deleted.id):
        redis.delete(key)

    # The sweep, with no change to any workspace, puts back both as they were published
    assert sweep_inbox(rig.sweeper, "fault-lost-versions").republished == 2
    assert {workspace.id: redis.get(version_key(JOB, workspace.id)) for workspace in (restored, deleted, kept)} == (
        published
    )
    # and the next change of the restored one is a version it never had
    change(ledger, restored)
    ledger.settle()
    assert restored.inbox_version() not in seen[restored.id]
    assert redis.get(version_key(JOB, restored.id)) == str(restored.inbox_version())

    row = ledger.row(
        "versions lost by Redis",
        "a version and its applied stamp set back to an earlier change's, another's deleted; the sweep runs, then "
        "one more change",
    )
    assert (row.lost, row.duplicated, row.survived) == (0, 0, row.injected), row
