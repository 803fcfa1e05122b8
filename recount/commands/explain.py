"""verify --explain: for one workspace, which counts differ from a fresh computation and by how much in each
scope, which of the app's writes feed each of them, and what of the workspace the app changed since its counts
were last computed. A workspace in drift with no dirty mark is a write path that changed data and did not mark
it: this points the app team at it. Writes nothing (the comparison is verify's, rolled back)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recount.commands import OPERATOR_QUERIES
from recount.commands.connections import clients_for
from recount.commands.status import iso_timestamp
from recount.commands.targets import Target
from recount.commands.verify import GLOBAL_SCOPE, Verdict, VerifyResult, compare_workspace
from shared.queries import query

_LEAD_TIMES = "Lead.lastInboundAt / lastOutboundAt / lastZrgOutboundAt"
# The app's writes that feed each count (docs/design.md §2), named as the app's Prisma schema names them.
FED_BY = {
    "total": "a lead created or deleted, or snoozed (Lead.snoozedUntil)",
    "total_non_blacklisted": "Lead.status to or from blacklisted / unqualified",
    "needs_repair": "Lead.status to or from needs_repair",
    "all_responses": _LEAD_TIMES,
    "requires_attention": f"Lead.sentimentTag, Lead.status, {_LEAD_TIMES}",
    "previously_required_attention": f"Lead.sentimentTag, Lead.status, {_LEAD_TIMES}",
    "ai_review": "AIDraft.status / autoSendAction (a draft needing review created or settled)",
    "ai_sent": "a Message sent by the AI (email, outbound, zrg, sentBy ai, with its aiDraftId)",
    "awaiting_reply": "derived: totalNonBlacklisted - requiresAttention",
}
SETTER_ROWS = "Lead.assignedToUserId (a setter's row appears or goes)"
NEVER_COMPUTED = "the workspace's first computation"


@dataclass(frozen=True)
class Difference:
    scope: str  # "global" or the setter's id
    count: str  # "" when the whole row would be added or deleted
    materialized: int | None  # None: no such row yet
    fresh: int | None  # None: a recompute would delete the row

    @property
    def delta(self) -> int:
        return (self.fresh or 0) - (self.materialized or 0)

    @property
    def row(self) -> str:
        """For a whole row: what a recompute would do to it."""
        return "" if self.count else ("added" if self.materialized is None else "deleted")

    @property
    def fed_by(self) -> str:
        if self.count:
            return FED_BY[self.count]
        return NEVER_COMPUTED if self.scope == "global" else SETTER_ROWS

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "row": self.row, "delta": self.delta, "fedBy": self.fed_by}


@dataclass(frozen=True)
class Explanation:
    result: VerifyResult
    computed_at: str | None  # the materialized counts' computation, ISO 8601
    differences: list[Difference] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)  # leads, leads_changed, messages_created, drafts_changed

    @property
    def compared(self) -> bool:
        """Whether there was anything to compare (not busy, not a missing workspace)."""
        return self.result.verdict not in (Verdict.BUSY, Verdict.MISSING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "result": asdict(self.result),
            "computedAt": self.computed_at,
            "differences": [difference.as_dict() for difference in self.differences],
            "changed": self.changed,
        }


def explain(target: Target, client_id: str) -> Explanation:
    clients = clients_for(target)
    try:
        comparison = compare_workspace(clients.db, client_id)
        if comparison.result.verdict in (Verdict.BUSY, Verdict.MISSING):  # nothing was compared
            return Explanation(comparison.result, None)
        computed = comparison.materialized.get((True, GLOBAL_SCOPE), {}).get("computed_at")
        changed = (
            clients.db.run(query("operations", "changed_since", OPERATOR_QUERIES), client_id=client_id, since=computed)[
                0
            ]
            if computed is not None
            else {}
        )
    finally:
        clients.close()
    return Explanation(
        comparison.result,
        iso_timestamp(computed),
        differences(comparison.materialized, comparison.fresh),
        dict(changed),
    )


def differences(materialized: dict[Any, dict[str, Any]], fresh: dict[Any, dict[str, Any]]) -> list[Difference]:
    """Every count that differs, in every scope (global first), and every row that would appear or go."""
    found = []
    for key in sorted(materialized.keys() | fresh.keys(), key=lambda k: (not k[0], k[1])):
        scope = "global" if key[0] else key[1]
        if key not in materialized:
            found.append(Difference(scope, "", None, 0))
            continue
        if key not in fresh:
            found.append(Difference(scope, "", 0, None))
            continue
        found.extend(
            Difference(scope, column, materialized[key][column], fresh[key][column])
            for column in FED_BY
            if materialized[key][column] != fresh[key][column]
        )
    return found
