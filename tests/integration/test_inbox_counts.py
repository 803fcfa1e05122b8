"""Inbox counts (docs/design.md §2) materialized by the real recompute against PostgreSQL and Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute, RecomputeOutcome
from tests import oracle
from tests.builders import Workspace, new_id
from tests.oracle import zero_counts

NOW = datetime(2026, 3, 1, 12, 0, 0)
MS = timedelta(milliseconds=1)
T1, T2, T3 = NOW - timedelta(hours=3), NOW - timedelta(hours=2), NOW - timedelta(hours=1)
ATTENTION = "Positive"
ATTENTION_TAGS = sorted(oracle.ATTENTION_TAGS)
REVIEW = ("pending", "needs_review")
# A message that counts as aiSent; cases override one field at a time. "draft" links a real AIDraft.
AI_SEND: dict[str, Any] = {"direction": "outbound", "channel": "email", "source": "zrg", "sent_by": "ai", "draft": True}


def expect(**counts: int) -> dict[str, int]:
    return {**zero_counts(), **counts}


def open1(**counts: int) -> dict[str, int]:
    """One open lead that does not require attention, plus the given counts."""
    return expect(**{"total": 1, "totalNonBlacklisted": 1, "awaitingReply": 1, **counts})


def seed(
    ws: Workspace, specs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Insert leads (with their drafts and messages) and return them as oracle records."""
    leads: list[dict[str, Any]] = []
    drafts: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for raw in specs:
        spec = dict(raw)
        draft_specs, message_specs = spec.pop("drafts", []), spec.pop("messages", [])
        lead_id = ws.lead(**spec)
        leads.append({"id": lead_id, **spec})
        for status, action in draft_specs:
            ws.draft(lead_id, status=status, auto_send_action=action)
            drafts.append({"leadId": lead_id, "status": status, "autoSendAction": action})
        for override in message_specs:
            message = {**AI_SEND, **override}
            draft_id = None
            if message.pop("draft"):
                draft_id = ws.draft(lead_id, status="approved", auto_send_action="send_immediate")
                drafts.append({"leadId": lead_id, "status": "approved", "autoSendAction": "send_immediate"})
            ws.message(lead_id, ai_draft_id=draft_id, **message)
            messages.append(
                {
                    "leadId": lead_id,
                    "channel": message["channel"],
                    "direction": message["direction"],
                    "source": message["source"],
                    "sentBy": message["sent_by"],
                    "aiDraftId": draft_id,
                }
            )
    return leads, drafts, messages


def recompute(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, client_id: str, now: datetime | None = NOW
) -> RecomputeOutcome:
    return Recompute(JobName.INBOX_COUNTS, db, cache, settings, now=now).run(client_id, JobContext("req-1", "test"))


p = pytest.param
CASES = [
    p([{}], open1(), id="new_lead_awaits_reply"),
    p([{"lastInboundAt": T2, "lastOutboundAt": T1}], open1(allResponses=1), id="inbound_after_outbound_is_response"),
    p([{"lastInboundAt": T1}], open1(allResponses=1), id="inbound_without_outbound_beats_epoch"),
    p([{"lastOutboundAt": T1}], open1(), id="outbound_only_is_no_response"),
    p(
        [{"sentimentTag": ATTENTION, "lastInboundAt": T2, "lastOutboundAt": T2}],
        open1(previouslyRequiredAttention=1),
        id="lastOut_equal_to_lastInbound_is_previously_required",
    ),
    p(
        [{"sentimentTag": ATTENTION, "lastInboundAt": T2, "lastZrgOutboundAt": T1, "lastOutboundAt": T3}],
        expect(total=1, totalNonBlacklisted=1, allResponses=1, requiresAttention=1),
        id="zrg_outbound_takes_precedence_over_later_outbound",
    ),
    p(
        [{"sentimentTag": ATTENTION, "lastInboundAt": T2, "lastZrgOutboundAt": T3, "lastOutboundAt": T1}],
        open1(previouslyRequiredAttention=1),
        id="zrg_outbound_after_inbound_answers_it",
    ),
    p([{"sentimentTag": ATTENTION}], open1(), id="attention_without_inbound_is_neither"),
    p([{"sentimentTag": "Not Interested", "lastInboundAt": T2}], open1(allResponses=1), id="other_tag_no_attention"),
    p([{"sentimentTag": None, "lastInboundAt": T2}], open1(allResponses=1), id="null_tag_no_attention"),
    *[
        p(
            [{"sentimentTag": tag, "lastInboundAt": T2}],
            expect(total=1, totalNonBlacklisted=1, allResponses=1, requiresAttention=1),
            id=f"attention_tag_{tag.replace(' ', '_')}",
        )
        for tag in ATTENTION_TAGS
    ],
    p(
        [{"status": "unqualified", "sentimentTag": ATTENTION, "lastInboundAt": T2}],
        expect(total=1, allResponses=1),
        id="unqualified_in_total_only",
    ),
    p(
        [{"status": "blacklisted", "sentimentTag": ATTENTION, "lastInboundAt": T1, "lastOutboundAt": T2}],
        expect(total=1),
        id="blacklisted_in_total_only",
    ),
    p([{"status": "needs_repair"}], open1(needsRepair=1), id="needs_repair"),
    p([{"snoozedUntil": NOW}], open1(), id="snooze_ending_exactly_now_is_counted"),
    p(
        [{"snoozedUntil": NOW + MS, "lastInboundAt": T2, "drafts": [REVIEW], "messages": [{}]}],
        expect(),
        id="snooze_ending_1ms_after_now_is_not_counted",
    ),
    p([{"snoozedUntil": T1}], open1(), id="expired_snooze_is_counted"),
    p([{"drafts": [REVIEW]}], open1(aiReview=1), id="ai_review_pending_needs_review"),
    p([{"drafts": [REVIEW, REVIEW]}], open1(aiReview=1), id="ai_review_two_drafts_counted_once"),
    p([{"drafts": [("approved", "needs_review")]}], open1(), id="ai_review_not_approved"),
    p([{"drafts": [("rejected", "needs_review")]}], open1(), id="ai_review_not_rejected"),
    *[
        p([{"drafts": [("pending", action)]}], open1(), id=f"ai_review_not_action_{action}")
        for action in ("send_immediate", "send_delayed", "skip", "error", None)
    ],
    p([{"messages": [{}]}], open1(aiSent=1), id="ai_sent_email_outbound_zrg_ai_with_draft"),
    p([{"messages": [{}, {}]}], open1(aiSent=1), id="ai_sent_two_messages_counted_once"),
    p([{"messages": [{"channel": "sms"}]}], open1(), id="ai_sent_not_sms"),
    p([{"messages": [{"channel": "linkedin"}]}], open1(), id="ai_sent_not_linkedin"),
    p([{"messages": [{"direction": "inbound"}]}], open1(), id="ai_sent_not_inbound"),
    p([{"messages": [{"source": "inboxxia_campaign"}]}], open1(), id="ai_sent_not_campaign_source"),
    p([{"messages": [{"sent_by": "setter"}]}], open1(), id="ai_sent_not_setter"),
    p([{"messages": [{"sent_by": None}]}], open1(), id="ai_sent_not_null_sender"),
    p([{"messages": [{"draft": False}]}], open1(), id="ai_sent_not_without_draft"),
    p(
        [
            {"sentimentTag": "Interested", "lastInboundAt": T2},
            {"sentimentTag": ATTENTION, "lastInboundAt": T3},
            {"status": "blacklisted"},
        ],
        expect(total=3, totalNonBlacklisted=2, allResponses=2, requiresAttention=2, awaitingReply=0),
        id="awaiting_reply_floors_at_zero",
    ),
    p(
        [
            {"status": "new", "sentimentTag": ATTENTION, "lastInboundAt": T3, "lastOutboundAt": T2, "drafts": [REVIEW]},
            {"status": "qualified", "sentimentTag": "Follow Up", "lastInboundAt": T1, "lastZrgOutboundAt": T2},
            {"status": "needs_repair", "messages": [{}]},
            {"status": "unqualified", "lastInboundAt": T3},
            {"status": "new", "snoozedUntil": NOW + timedelta(days=1), "lastInboundAt": T3},
        ],
        expect(
            total=4,
            totalNonBlacklisted=3,
            needsRepair=1,
            allResponses=2,
            requiresAttention=1,
            previouslyRequiredAttention=1,
            aiReview=1,
            aiSent=1,
            awaitingReply=2,
        ),
        id="mixed_workspace",
    ),
]


@pytest.mark.parametrize(("specs", "expected"), CASES)
def test_given_leads_when_recomputed_then_global_row_has_exact_counts(
    db: PostgresDatabase,
    cache: RedisStore,
    settings: RecomputeSettings,
    workspace: Workspace,
    specs: list[dict[str, Any]],
    expected: dict[str, int],
) -> None:
    leads, drafts, messages = seed(workspace, specs)
    assert oracle.inbox_counts(leads, drafts, messages, NOW)["global"] == expected  # the oracle agrees by hand

    outcome = recompute(db, cache, settings, workspace.id)

    assert outcome.workspace_exists
    assert workspace.counts()["global"] == expected


def test_given_setters_when_recomputed_then_one_row_per_setter_with_visible_leads(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    specs: list[dict[str, Any]] = [
        {"assignedToUserId": "s1", "sentimentTag": ATTENTION, "lastInboundAt": T2, "drafts": [REVIEW]},
        {"assignedToUserId": "s1", "lastInboundAt": T1, "lastOutboundAt": T2},
        {"assignedToUserId": "s2", "status": "blacklisted", "messages": [{}]},
        {"assignedToUserId": None},
        {"assignedToUserId": "s3", "snoozedUntil": NOW + MS},  # s3 has only a snoozed lead: no row
        {"assignedToUserId": "s4", "snoozedUntil": NOW},  # snooze ends exactly now: s4 gets a row
    ]
    leads, drafts, messages = seed(workspace, specs)

    recompute(db, cache, settings, workspace.id)

    rows = workspace.counts()
    assert rows == {
        "global": expect(
            total=5, totalNonBlacklisted=4, allResponses=1, requiresAttention=1, aiReview=1, aiSent=1, awaitingReply=3
        ),
        "s1": expect(total=2, totalNonBlacklisted=2, allResponses=1, requiresAttention=1, aiReview=1, awaitingReply=1),
        "s2": expect(total=1, aiSent=1),
        "s4": open1(),
    }
    assert rows == oracle.inbox_counts(leads, drafts, messages, NOW)


@pytest.mark.parametrize("assigned", ["", "   ", "\t \n"], ids=["empty", "spaces", "tab_space_newline"])
def test_given_blank_assignee_then_no_setter_row_but_counted_globally(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace, assigned: str
) -> None:
    seed(workspace, [{"assignedToUserId": assigned}, {"assignedToUserId": "s1"}])
    recompute(db, cache, settings, workspace.id)
    assert workspace.counts() == {"global": expect(total=2, totalNonBlacklisted=2, awaitingReply=2), "s1": open1()}


def test_given_padded_and_plain_setter_ids_then_they_are_one_setter(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    seed(workspace, [{"assignedToUserId": " s1 "}, {"assignedToUserId": "s1"}, {"assignedToUserId": "s1\t"}])
    recompute(db, cache, settings, workspace.id)
    three = expect(total=3, totalNonBlacklisted=3, awaitingReply=3)
    assert workspace.counts() == {"global": three, "s1": three}


def test_given_unicode_padding_then_trimmed_like_javascript_and_letters_kept(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    # JavaScript's trim() strips no-break and ideographic spaces; letters such as a trailing 'v' stay
    seed(
        workspace,
        [
            {"assignedToUserId": "\u00a0s1\u3000"},
            {"assignedToUserId": "s1"},
            {"assignedToUserId": "setter-v"},
            {"assignedToUserId": "\ufeff"},
        ],
    )
    recompute(db, cache, settings, workspace.id)
    rows = workspace.counts()
    assert set(rows) == {"global", "s1", "setter-v"}
    assert rows["s1"]["total"] == 2 and rows["setter-v"]["total"] == 1 and rows["global"]["total"] == 4


def test_given_setter_loses_every_lead_when_recomputed_then_its_row_is_pruned(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    workspace.lead(assignedToUserId="s1")
    moved = workspace.lead(assignedToUserId="s2")
    recompute(db, cache, settings, workspace.id)
    assert set(workspace.counts()) == {"global", "s1", "s2"}

    db.run('UPDATE "Lead" SET "assignedToUserId" = \'s1\' WHERE id = :id', id=moved)
    outcome = recompute(db, cache, settings, workspace.id)

    assert outcome.rows_deleted == 1
    two = expect(total=2, totalNonBlacklisted=2, awaitingReply=2)
    assert workspace.counts() == {"global": two, "s1": two}


def test_given_no_leads_then_a_global_row_of_zeros(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    outcome = recompute(db, cache, settings, workspace.id)
    assert outcome.workspace_exists
    assert workspace.counts() == {"global": zero_counts()}


def test_given_unknown_workspace_then_nothing_is_written(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, raw_redis: redis.Redis
) -> None:
    unknown = new_id()
    outcome = recompute(db, cache, settings, unknown)
    assert outcome.workspace_exists is False
    assert db.run('SELECT count(*) AS n FROM "InboxCounts"')[0]["n"] == 0
    assert raw_redis.get(f"inbox:v1:ver:{unknown}") is None
    assert json.loads(cast(str, raw_redis.get(f"job:v1:{unknown}:inbox_counts")))["status"] == "skipped"


def test_version_moves_only_when_counts_change(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace, raw_redis: redis.Redis
) -> None:
    version_key = f"inbox:v1:ver:{workspace.id}"
    workspace.lead()

    first = recompute(db, cache, settings, workspace.id)
    v1 = workspace.inbox_version()
    assert (raw_redis.get(version_key), first.version, first.changed) == (str(v1), v1, True)

    unchanged = recompute(db, cache, settings, workspace.id)  # no data change
    assert workspace.inbox_version() == v1
    assert (raw_redis.get(version_key), unchanged.version, unchanged.changed) == (str(v1), v1, False)

    workspace.lead(status="needs_repair")
    changed = recompute(db, cache, settings, workspace.id)
    v2 = workspace.inbox_version()
    assert v2 > v1
    assert (raw_redis.get(version_key), changed.version, changed.changed) == (str(v2), v2, True)

    blob = json.loads(cast(str, raw_redis.get(f"job:v1:{workspace.id}:inbox_counts")))
    assert (blob["status"], blob["version"], blob["requestId"], blob["source"]) == ("succeeded", v2, "req-1", "test")
    # The TTL is the RedisStore's (the `cache` fixture keeps the 24 h default), not RecomputeSettings'.
    assert 0 < raw_redis.ttl(f"job:v1:{workspace.id}:inbox_counts") <= 86_400


def test_given_snooze_expires_with_no_write_then_a_later_recompute_counts_it(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, workspace: Workspace
) -> None:
    workspace.lead(snoozedUntil=NOW + timedelta(hours=1))
    first = recompute(db, cache, settings, workspace.id).version
    assert first == workspace.inbox_version()
    assert workspace.counts() == {"global": zero_counts()}

    later = recompute(db, cache, settings, workspace.id, now=NOW + timedelta(hours=1))

    assert (later.changed, later.version) == (True, workspace.inbox_version())
    assert later.version > first
    assert workspace.counts() == {"global": open1()}


TIMES = st.sampled_from([None, T1, T2, T3, NOW, NOW + MS])
LEADS = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(["new", "qualified", "blacklisted", "unqualified", "needs_repair"]),
            "sentimentTag": st.sampled_from(
                [None, "Positive", "Follow Up", "Meeting Booked", "Neutral", "Not Interested"]
            ),
            "lastInboundAt": TIMES,
            "lastOutboundAt": TIMES,
            "lastZrgOutboundAt": TIMES,
            "snoozedUntil": st.sampled_from([None, T1, NOW, NOW + MS, NOW + timedelta(days=1)]),
            "assignedToUserId": st.sampled_from([None, "", "  ", "\t", "s1", " s1 ", "s2", "\ts2\n", "s3"]),
            "drafts": st.lists(
                st.tuples(
                    st.sampled_from(["pending", "approved", "rejected"]),
                    st.sampled_from([None, "needs_review", "send_immediate", "skip"]),
                ),
                max_size=2,
            ),
            "messages": st.lists(
                st.fixed_dictionaries(
                    {
                        "direction": st.sampled_from(["outbound", "inbound"]),
                        "channel": st.sampled_from(["email", "sms"]),
                        "source": st.sampled_from(["zrg", "inboxxia_campaign"]),
                        "sent_by": st.sampled_from(["ai", "setter", None]),
                        "draft": st.booleans(),
                    }
                ),
                max_size=2,
            ),
        }
    ),
    max_size=8,
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=LEADS, now=st.sampled_from([T2, NOW, NOW + MS]))
def test_property_given_random_workspace_then_rows_equal_the_oracle(
    db: PostgresDatabase, cache: RedisStore, settings: RecomputeSettings, specs: list[dict[str, Any]], now: datetime
) -> None:
    ws = Workspace.create(db)  # a fresh workspace per example: examples share the function-scoped database
    leads, drafts, messages = seed(ws, specs)

    recompute(db, cache, settings, ws.id, now=now)

    rows = ws.counts()
    assert rows == oracle.inbox_counts(leads, drafts, messages, now)
    assert all(row["awaitingReply"] >= 0 for row in rows.values())
