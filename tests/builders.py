"""Test data written through real SQL: workspaces, leads, drafts, messages and dirty marks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.adapters.postgres import PostgresDatabase
from shared.contracts.keys import stamp_text, version_for_stamp

GLOBAL_SCOPE = "00000000-0000-0000-0000-000000000000"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Workspace:
    db: PostgresDatabase
    id: str

    @classmethod
    def create(cls, db: PostgresDatabase, client_id: str | None = None) -> Workspace:
        client_id = client_id or new_id()
        db.run(
            'INSERT INTO "Client" (id, name, "userId", "updatedAt") VALUES (:id, :name, :user, now())',
            id=client_id,
            name=f"workspace {client_id[:8]}",
            user=new_id(),
        )
        return cls(db, client_id)

    def lead(self, **columns: Any) -> str:
        """Insert a lead; keyword names are the Lead columns (camelCase)."""
        lead_id = columns.pop("id", None) or new_id()
        values = {
            "id": lead_id,
            "clientId": self.id,
            "updatedAt": columns.pop("updatedAt", datetime(2026, 1, 1)),
            **columns,
        }
        names = ", ".join(f'"{name}"' for name in values)
        params = ", ".join(f":p{i}" for i in range(len(values)))
        self.db.run(
            f'INSERT INTO "Lead" ({names}) VALUES ({params})',
            **{f"p{i}": value for i, value in enumerate(values.values())},
        )
        return lead_id

    def draft(self, lead_id: str, *, status: str = "pending", auto_send_action: str | None = "needs_review") -> str:
        draft_id = new_id()
        self.db.run(
            'INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", "updatedAt") '
            "VALUES (:id, :lead, 'draft', 'email', :status, :action, now())",
            id=draft_id,
            lead=lead_id,
            status=status,
            action=auto_send_action,
        )
        return draft_id

    def message(
        self,
        lead_id: str,
        *,
        direction: str = "outbound",
        channel: str = "email",
        source: str = "zrg",
        sent_by: str | None = "ai",
        ai_draft_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> str:
        message_id = new_id()
        self.db.run(
            'INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", "aiDraftId", '
            "\"sentAt\") VALUES (:id, :lead, :channel, :source, 'hi', :direction, :sent_by, :draft, "
            "coalesce(CAST(:sent_at AS timestamp), now()))",
            id=message_id,
            lead=lead_id,
            channel=channel,
            source=source,
            direction=direction,
            sent_by=sent_by,
            draft=ai_draft_id,
            sent_at=sent_at,
        )
        return message_id

    def mark_dirty(self, db: PostgresDatabase | None = None, dirty_at: datetime | None = None) -> None:
        """The app's upsert, unchanged: set dirtyAt to its own clock."""
        (db or self.db).run(
            'INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt") '
            "VALUES (:id, coalesce(CAST(:at AS timestamp(3)), now() AT TIME ZONE 'UTC')) "
            'ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt"',
            id=self.id,
            at=dirty_at,
        )

    def dirty_marker(self) -> dict[str, Any] | None:
        rows = self.db.run(
            'SELECT xmin::text AS generation, "dirtyAt" AS dirty_at FROM "InboxCountsDirty" WHERE "clientId" = :id',
            id=self.id,
        )
        return rows[0] if rows else None

    def inbox_version(self) -> int:
        """The inbox version its committed change stamp stands for (0: never computed): what Redis must hold."""
        rows = self.db.run(
            'SELECT "updatedAt" FROM "InboxCounts" WHERE "clientId" = :id AND "isGlobal" AND "scopeUserId" = :scope',
            id=self.id,
            scope=GLOBAL_SCOPE,
        )
        return version_for_stamp(stamp_text(rows[0]["updatedAt"])) if rows else 0

    def analytics_version(self, window_days: int = 30) -> int:
        """The analytics version its committed change stamp (the window's newest computedAt) stands for."""
        rows = self.db.run(
            'SELECT max("computedAt") AS stamp FROM "AnalyticsDailyAggregates" WHERE "clientId" = :id'
            " AND day >= (statement_timestamp() AT TIME ZONE 'UTC')::date - (CAST(:days AS integer) - 1)",
            id=self.id,
            days=window_days,
        )
        return version_for_stamp(stamp_text(rows[0]["stamp"])) if rows and rows[0]["stamp"] else 0

    def counts(self) -> dict[str, dict[str, int]]:
        """Materialized rows keyed by scope ('global' or the setter id), counts only."""
        rows = self.db.run(
            'SELECT "isGlobal", "scopeUserId", total, "totalNonBlacklisted", "needsRepair", '
            '"allResponses", "requiresAttention", "previouslyRequiredAttention", "aiReview", '
            '"aiSent", "awaitingReply" FROM "InboxCounts" WHERE "clientId" = :id',
            id=self.id,
        )
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            scope = "global" if row.pop("isGlobal") else row["scopeUserId"]
            if scope == "global":
                assert row["scopeUserId"] == GLOBAL_SCOPE
            row.pop("scopeUserId")
            result[scope] = row
        return result
