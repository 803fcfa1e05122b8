"""B1's least pass, the floor under any full job, counts what the full statement counts and finds the flags it does, on
either path (a probe per lead, or recount's partial indexes read once), and finds them only the way that path
does: a floor that finds other leads, or probes where the job hashes, bounds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recount.bench.b1_seed import _SEED, LEAST_COUNTS, least_pass
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from shared.queries import query
from tests.builders import Workspace, new_id
from tests.integration.test_generic_full_pass import workspace_of

PATHS = {
    "probed": {"probe_review": True, "probe_sent": True},
    "hashed": {"probe_review": False, "probe_sent": False},
    "mixed": {"probe_review": False, "probe_sent": True},
    "mixed the other way": {"probe_review": True, "probe_sent": False},
}


def look_alikes(workspace: Workspace) -> None:
    """Leads the flags must tell apart: drafts that are not pending reviews, messages that are not AI-sent emails
    from a draft, a lead with two review drafts, snoozes ending just after and just before now."""
    now = datetime.now(UTC).replace(tzinfo=None)
    auto = workspace.lead(status="new")
    workspace.draft(auto, auto_send_action="auto_send")
    workspace.draft(auto, status="sent")
    two = workspace.lead(status="new")
    workspace.draft(two)
    workspace.draft(two)
    for sent_by, channel, direction, source in (
        ("human", "email", "outbound", "zrg"),
        ("ai", "sms", "outbound", "zrg"),
        ("ai", "email", "inbound", "zrg"),
        ("ai", "email", "outbound", "manual"),
    ):
        lead = workspace.lead(status="new")
        draft = workspace.draft(lead, status="sent")
        workspace.message(lead, sent_by=sent_by, channel=channel, direction=direction, source=source, ai_draft_id=draft)
    workspace.message(workspace.lead(status="new"), ai_draft_id=None)  # AI-sent, but from no draft
    for minutes in (30, -30):
        lead = workspace.lead(status="new", snoozedUntil=now + timedelta(minutes=minutes))
        workspace.draft(lead)
        workspace.message(lead, ai_draft_id=workspace.draft(lead, status="sent"))


def counted_edges(workspace: Workspace) -> None:
    """Leads each count must tell apart: a human's outbound after the AI's and before it (the AI's stands), an
    inbound with no outbound at all, an open lead needing attention with no inbound, each assignee padded."""
    now = datetime.now(UTC).replace(tzinfo=None)
    hour = timedelta(hours=1)
    edges = (
        {"sentimentTag": "Interested", "lastInboundAt": now - 2 * hour, "lastOutboundAt": now - hour}
        | {"lastZrgOutboundAt": now - 3 * hour},
        {"sentimentTag": "Not Interested", "lastInboundAt": now - 2 * hour, "lastOutboundAt": now - 3 * hour}
        | {"lastZrgOutboundAt": now - hour},
        {"sentimentTag": "Interested", "lastInboundAt": now - 2 * hour},
        {"sentimentTag": "Interested", "lastOutboundAt": now - hour},
    )
    for columns in edges:
        workspace.lead(status="new", assignedToUserId="  setter-9 ", **columns)


@pytest.mark.parametrize("path", PATHS)
def test_the_least_pass_counts_what_the_full_statement_counts(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, path: str
) -> None:
    # Given a workspace of every shape of lead and of the look-alikes, and another workspace beside it
    workspace = workspace_of(db, 60, 0)
    look_alikes(workspace)
    counted_edges(workspace)
    workspace_of(db, 30, 7)

    # When the full job recomputes it, and the least pass counts it
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(workspace.id, JobContext(new_id(), "test"))
    db.run("BEGIN")
    counted = least_pass(db, workspace.id, PATHS[path])
    per_assignee = db.run(query("seed_inbox_counts", "least_pass", _SEED), client_id=workspace.id, **PATHS[path])
    db.run("ROLLBACK")

    # Then both saw the same leads, the same flags and the same counts, for the workspace and for each setter
    rows = db.run(query("inbox_counts", "read_counts"), client_id=workspace.id)
    assert rows[0]["is_global"]
    assert counted == {name: rows[0][name] for name in LEAST_COUNTS}
    assert counted["total"] == 60 + 8 + 4  # the lead snoozed till half an hour from now is not counted
    assert all(counted[name] for name in LEAST_COUNTS)  # every count has leads in it: none agrees by being empty
    setters: dict[str, dict[str, int]] = {}
    for row in per_assignee:
        setter = (row["assigned"] or "").strip()
        if setter:
            for name in LEAST_COUNTS:
                setters.setdefault(setter, dict.fromkeys(LEAST_COUNTS, 0))[name] += row[name]
    assert setters == {row["scope_user_id"]: {name: row[name] for name in LEAST_COUNTS} for row in rows[1:]}
    # the AI's outbound time stands where there is one, a human's later one aside; no outbound is no reply
    assert (setters["setter-9"]["requires_attention"], setters["setter-9"]["previously_required_attention"]) == (2, 0)


@pytest.mark.parametrize("path", PATHS)
def test_the_least_pass_finds_each_flag_the_way_the_statement_does_on_its_path(db: PostgresDatabase, path: str) -> None:
    # Given a workspace
    workspace = workspace_of(db, 40, 0)
    look_alikes(workspace)

    # When both are planned on the same paths
    def probes(sql: str, **now: None) -> int:
        db.run("BEGIN")
        try:
            plan = db.run("EXPLAIN " + sql, client_id=workspace.id, **now, **PATHS[path])
        finally:
            db.run("ROLLBACK")
        return sum(" SubPlan " in f" {row['QUERY PLAN']} " for row in plan)

    # Then the least pass probes per lead exactly where the statement does, and hashes where it hashes
    expected = sum(PATHS[path].values())
    assert probes(query("seed_inbox_counts", "least_pass", _SEED)) == expected
    assert probes(query("inbox_counts", "recompute"), now=None) == expected
