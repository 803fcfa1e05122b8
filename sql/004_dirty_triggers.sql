-- recount: optional
-- Marks from the database itself (docs/integrating.md, section 5): statement-level triggers on "Lead",
-- "Message" and "AIDraft" upsert "InboxCountsDirty" for the workspaces a statement changed in a way a count
-- can see, so no write path in the app can forget a mark. Applied only by `recount migrate --with-triggers`;
-- `recount migrate --drop-triggers` removes them (004_dirty_triggers.drop.sql). Needs PostgreSQL 11 or later.
--
-- One upsert per statement, whatever its row count, with the workspaces in a stable order, so two
-- statements marking the same workspaces queue behind each other instead of deadlocking. A workspace being
-- deleted (its leads go by cascade) is not marked: nothing is left to count. An update compares the rows
-- before and after with EXCEPT (hashed, and NULLs compare equal), not a join: transition tables have no
-- statistics, and a join of two 1,000-row ones planned as a nested loop costs more than the update itself.

-- Each function resolves names with the search_path the migration ran with, not the writing session's.
-- An id that breaks recount's clientId rule (docs/design.md §4) is not marked: no sweep would ever clear it.
CREATE OR REPLACE FUNCTION recount_mark_dirty(client_ids text[]) RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt")
    SELECT ids.client_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
    FROM (SELECT DISTINCT unnest(client_ids) AS client_id) ids
    WHERE ids.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
      AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = ids.client_id)
    ORDER BY ids.client_id
    ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt";
$$;

-- TRUNCATE has no rows to look at: every workspace is marked.
CREATE OR REPLACE FUNCTION recount_truncated() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM recount_mark_dirty(ARRAY(SELECT id FROM "Client"));
    RETURN NULL;
END;
$$;

-- Leads: every insert and delete; an update only when a column a count reads changed (not updatedAt alone).
CREATE OR REPLACE FUNCTION recount_lead_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM recount_mark_dirty(ARRAY(SELECT "clientId" FROM recount_new));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM recount_mark_dirty(ARRAY(SELECT "clientId" FROM recount_old));
    ELSE
        PERFORM recount_mark_dirty(ARRAY(
            SELECT changed."clientId" FROM (
                (SELECT id, "clientId", status, "sentimentTag", "lastInboundAt", "lastOutboundAt",
                        "lastZrgOutboundAt", "snoozedUntil", "assignedToUserId" FROM recount_new
                 EXCEPT
                 SELECT id, "clientId", status, "sentimentTag", "lastInboundAt", "lastOutboundAt",
                        "lastZrgOutboundAt", "snoozedUntil", "assignedToUserId" FROM recount_old)
                UNION ALL
                (SELECT id, "clientId", status, "sentimentTag", "lastInboundAt", "lastOutboundAt",
                        "lastZrgOutboundAt", "snoozedUntil", "assignedToUserId" FROM recount_old
                 EXCEPT
                 SELECT id, "clientId", status, "sentimentTag", "lastInboundAt", "lastOutboundAt",
                        "lastZrgOutboundAt", "snoozedUntil", "assignedToUserId" FROM recount_new)) changed));
    END IF;
    RETURN NULL;
END;
$$;

-- Messages feed one count, aiSent: a message that is (or was) an AI-sent email from a draft.
CREATE OR REPLACE FUNCTION recount_message_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM recount_new m JOIN "Lead" l ON l.id = m."leadId"
            WHERE m.channel = 'email' AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
              AND m."aiDraftId" IS NOT NULL));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM recount_old m JOIN "Lead" l ON l.id = m."leadId"
            WHERE m.channel = 'email' AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
              AND m."aiDraftId" IS NOT NULL));
    ELSE
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM (
                (SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_new
                 EXCEPT
                 SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_old)
                UNION ALL
                (SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_old
                 EXCEPT
                 SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_new)
            ) changed JOIN "Lead" l ON l.id = changed."leadId"));
    END IF;
    RETURN NULL;
END;
$$;

-- AI drafts feed one count, aiReview: a draft that is (or was) pending and needing review.
CREATE OR REPLACE FUNCTION recount_draft_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM recount_new d JOIN "Lead" l ON l.id = d."leadId"
            WHERE d.status = 'pending' AND d."autoSendAction" = 'needs_review'));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM recount_old d JOIN "Lead" l ON l.id = d."leadId"
            WHERE d.status = 'pending' AND d."autoSendAction" = 'needs_review'));
    ELSE
        PERFORM recount_mark_dirty(ARRAY(
            SELECT l."clientId" FROM (
                (SELECT id, "leadId", status, "autoSendAction" FROM recount_new
                 EXCEPT SELECT id, "leadId", status, "autoSendAction" FROM recount_old)
                UNION ALL
                (SELECT id, "leadId", status, "autoSendAction" FROM recount_old
                 EXCEPT SELECT id, "leadId", status, "autoSendAction" FROM recount_new)
            ) changed JOIN "Lead" l ON l.id = changed."leadId"));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS recount_lead_inserted ON "Lead";
CREATE TRIGGER recount_lead_inserted AFTER INSERT ON "Lead"
    REFERENCING NEW TABLE AS recount_new FOR EACH STATEMENT EXECUTE FUNCTION recount_lead_changed();
DROP TRIGGER IF EXISTS recount_lead_updated ON "Lead";
CREATE TRIGGER recount_lead_updated AFTER UPDATE ON "Lead"
    REFERENCING OLD TABLE AS recount_old NEW TABLE AS recount_new
    FOR EACH STATEMENT EXECUTE FUNCTION recount_lead_changed();
DROP TRIGGER IF EXISTS recount_lead_deleted ON "Lead";
CREATE TRIGGER recount_lead_deleted AFTER DELETE ON "Lead"
    REFERENCING OLD TABLE AS recount_old FOR EACH STATEMENT EXECUTE FUNCTION recount_lead_changed();

DROP TRIGGER IF EXISTS recount_message_inserted ON "Message";
CREATE TRIGGER recount_message_inserted AFTER INSERT ON "Message"
    REFERENCING NEW TABLE AS recount_new FOR EACH STATEMENT EXECUTE FUNCTION recount_message_changed();
DROP TRIGGER IF EXISTS recount_message_updated ON "Message";
CREATE TRIGGER recount_message_updated AFTER UPDATE ON "Message"
    REFERENCING OLD TABLE AS recount_old NEW TABLE AS recount_new
    FOR EACH STATEMENT EXECUTE FUNCTION recount_message_changed();
DROP TRIGGER IF EXISTS recount_message_deleted ON "Message";
CREATE TRIGGER recount_message_deleted AFTER DELETE ON "Message"
    REFERENCING OLD TABLE AS recount_old FOR EACH STATEMENT EXECUTE FUNCTION recount_message_changed();

DROP TRIGGER IF EXISTS recount_draft_inserted ON "AIDraft";
CREATE TRIGGER recount_draft_inserted AFTER INSERT ON "AIDraft"
    REFERENCING NEW TABLE AS recount_new FOR EACH STATEMENT EXECUTE FUNCTION recount_draft_changed();
DROP TRIGGER IF EXISTS recount_draft_updated ON "AIDraft";
CREATE TRIGGER recount_draft_updated AFTER UPDATE ON "AIDraft"
    REFERENCING OLD TABLE AS recount_old NEW TABLE AS recount_new
    FOR EACH STATEMENT EXECUTE FUNCTION recount_draft_changed();
DROP TRIGGER IF EXISTS recount_draft_deleted ON "AIDraft";
CREATE TRIGGER recount_draft_deleted AFTER DELETE ON "AIDraft"
    REFERENCING OLD TABLE AS recount_old FOR EACH STATEMENT EXECUTE FUNCTION recount_draft_changed();

DROP TRIGGER IF EXISTS recount_lead_truncated ON "Lead";
CREATE TRIGGER recount_lead_truncated AFTER TRUNCATE ON "Lead" FOR EACH STATEMENT EXECUTE FUNCTION recount_truncated();
DROP TRIGGER IF EXISTS recount_message_truncated ON "Message";
CREATE TRIGGER recount_message_truncated AFTER TRUNCATE ON "Message"
    FOR EACH STATEMENT EXECUTE FUNCTION recount_truncated();
DROP TRIGGER IF EXISTS recount_draft_truncated ON "AIDraft";
CREATE TRIGGER recount_draft_truncated AFTER TRUNCATE ON "AIDraft"
    FOR EACH STATEMENT EXECUTE FUNCTION recount_truncated();
