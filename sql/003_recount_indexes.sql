-- recount: no-transaction
-- Partial indexes recount's queries rely on, owned by recount, on the app's tables. Small (they hold
-- only the rows the counts and the sweep look for) and built CONCURRENTLY, so production writes
-- never wait on them. `python -m recount migrate --recount-only` applies this file and 002.

-- aiReview: leads with a pending draft that needs review (AIDraft has no index on leadId at all).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "AIDraft_recount_review_leadId_idx"
    ON "AIDraft" ("leadId")
    WHERE status = 'pending' AND "autoSendAction" = 'needs_review';

-- aiSent: leads with an AI-sent email from a draft.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "Message_recount_aiSent_leadId_idx"
    ON "Message" ("leadId")
    WHERE channel = 'email' AND direction = 'outbound' AND source = 'zrg' AND "sentBy" = 'ai'
      AND "aiDraftId" IS NOT NULL;

-- The inbox sweep: leads whose snooze ends, to find workspaces whose counts changed with the clock.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "Lead_recount_snoozedUntil_idx"
    ON "Lead" ("snoozedUntil", "clientId")
    WHERE "snoozedUntil" IS NOT NULL;
