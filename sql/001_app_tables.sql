-- The subset of the app's Prisma schema that recount reads and writes, for local runs and tests.
-- In production these tables already exist (Prisma owns them); recount never applies this file there.
-- Names, types, defaults, keys and indexes follow Prisma's conventions: quoted camelCase,
-- String -> text, DateTime -> timestamp(3) (UTC, no time zone), Int -> integer.

CREATE TABLE IF NOT EXISTS "Client" (
    "id"        text         NOT NULL,
    "name"      text         NOT NULL,
    "userId"    text         NOT NULL,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" timestamp(3) NOT NULL,
    CONSTRAINT "Client_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "Lead" (
    "id"                  text         NOT NULL,
    "clientId"            text         NOT NULL,
    "status"              text         NOT NULL DEFAULT 'new',
    "sentimentTag"        text,
    "lastInboundAt"       timestamp(3),
    "lastOutboundAt"      timestamp(3),
    "lastZrgOutboundAt"   timestamp(3),
    "lastMessageAt"       timestamp(3),
    "snoozedUntil"        timestamp(3),
    "appointmentBookedAt" timestamp(3),
    "assignedToUserId"    text,
    "createdAt"           timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"           timestamp(3) NOT NULL,
    CONSTRAINT "Lead_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Lead_clientId_fkey" FOREIGN KEY ("clientId")
        REFERENCES "Client" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS "Lead_clientId_idx" ON "Lead" ("clientId");
CREATE INDEX IF NOT EXISTS "Lead_clientId_lastInboundAt_idx" ON "Lead" ("clientId", "lastInboundAt" DESC);
CREATE INDEX IF NOT EXISTS "Lead_clientId_assignedToUserId_lastInboundAt_idx"
    ON "Lead" ("clientId", "assignedToUserId", "lastInboundAt" DESC);

CREATE TABLE IF NOT EXISTS "AIDraft" (
    "id"             text         NOT NULL,
    "leadId"         text         NOT NULL,
    "content"        text         NOT NULL,
    "channel"        text         NOT NULL,
    "status"         text         NOT NULL DEFAULT 'pending',
    "autoSendAction" text,
    "createdAt"      timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"      timestamp(3) NOT NULL,
    CONSTRAINT "AIDraft_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "AIDraft_leadId_fkey" FOREIGN KEY ("leadId")
        REFERENCES "Lead" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "Message" (
    "id"        text         NOT NULL,
    "leadId"    text         NOT NULL,
    "channel"   text         NOT NULL DEFAULT 'sms',
    "source"    text         NOT NULL DEFAULT 'zrg',
    "body"      text         NOT NULL,
    "direction" text         NOT NULL,
    "sentBy"    text,
    "aiDraftId" text,
    "sentAt"    timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Message_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "Message_leadId_fkey" FOREIGN KEY ("leadId")
        REFERENCES "Lead" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Message_aiDraftId_fkey" FOREIGN KEY ("aiDraftId")
        REFERENCES "AIDraft" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS "Message_leadId_idx" ON "Message" ("leadId");
CREATE INDEX IF NOT EXISTS "Message_leadId_direction_source_sentAt_idx"
    ON "Message" ("leadId", "direction", "source", "sentAt" DESC);
CREATE INDEX IF NOT EXISTS "Message_aiDraftId_idx" ON "Message" ("aiDraftId");

CREATE TABLE IF NOT EXISTS "InboxCounts" (
    "id"                          text         NOT NULL,
    "clientId"                    text         NOT NULL,
    "isGlobal"                    boolean      NOT NULL,
    "scopeUserId"                 text         NOT NULL,
    "total"                       integer      NOT NULL DEFAULT 0,
    "totalNonBlacklisted"         integer      NOT NULL DEFAULT 0,
    "needsRepair"                 integer      NOT NULL DEFAULT 0,
    "allResponses"                integer      NOT NULL DEFAULT 0,
    "requiresAttention"           integer      NOT NULL DEFAULT 0,
    "previouslyRequiredAttention" integer      NOT NULL DEFAULT 0,
    "aiReview"                    integer      NOT NULL DEFAULT 0,
    "aiSent"                      integer      NOT NULL DEFAULT 0,
    "awaitingReply"               integer      NOT NULL DEFAULT 0,
    "computedAt"                  timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"                   timestamp(3) NOT NULL,
    CONSTRAINT "InboxCounts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "InboxCounts_clientId_fkey" FOREIGN KEY ("clientId")
        REFERENCES "Client" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "InboxCounts_clientId_isGlobal_scopeUserId_key"
    ON "InboxCounts" ("clientId", "isGlobal", "scopeUserId");

CREATE TABLE IF NOT EXISTS "InboxCountsDirty" (
    "clientId" text         NOT NULL,
    "dirtyAt"  timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "InboxCountsDirty_pkey" PRIMARY KEY ("clientId"),
    CONSTRAINT "InboxCountsDirty_clientId_fkey" FOREIGN KEY ("clientId")
        REFERENCES "Client" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS "InboxCountsDirty_dirtyAt_idx" ON "InboxCountsDirty" ("dirtyAt");
