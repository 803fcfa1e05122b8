-- The one table recount owns. Apply in production too (python -m recount migrate --recount-only).

CREATE TABLE IF NOT EXISTS "AnalyticsDailyAggregates" (
    "clientId"         text         NOT NULL,
    "day"              date         NOT NULL,
    "leadsCreated"     integer      NOT NULL DEFAULT 0,
    "inboundMessages"  integer      NOT NULL DEFAULT 0,
    "outboundMessages" integer      NOT NULL DEFAULT 0,
    "respondedLeads"   integer      NOT NULL DEFAULT 0,
    "contactedLeads"   integer      NOT NULL DEFAULT 0,
    "meetingsBooked"   integer      NOT NULL DEFAULT 0,
    "aiSentMessages"   integer      NOT NULL DEFAULT 0,
    "computedAt"       timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AnalyticsDailyAggregates_pkey" PRIMARY KEY ("clientId", "day"),
    CONSTRAINT "AnalyticsDailyAggregates_clientId_fkey" FOREIGN KEY ("clientId")
        REFERENCES "Client" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
