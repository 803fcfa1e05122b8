-- recount: optional
-- Changes captured by the database itself (docs/integrating.md, section 5; docs/design.md §10): statement-level
-- triggers on "Lead", "Message" and "AIDraft" record, for each lead whose contribution to a count a statement
-- may have changed, the pair (workspace, lead) in recount_lead_change; the inbox job then recomputes those leads
-- alone against what each contributed last (recount_lead_state). Applied only by `recount migrate
-- --with-triggers`; `recount migrate --drop-triggers` removes them and recount's capture tables
-- (004_dirty_triggers.drop.sql). The tables they write are 005_lead_capture.sql's. Needs PostgreSQL 11 or later.
--
-- One upsert per statement, whatever its row count, with the pairs in a stable order, so two statements
-- recording the same leads queue behind each other instead of deadlocking; writers of different leads of one
-- workspace never wait on each other (no row of the workspace's own is written). A workspace being deleted
-- (its leads go by cascade) is not recorded: nothing is left to count. An update of leads compares the rows before
-- and after in a full join on id (NULLs compare equal): a full join cannot be planned as a nested loop, which a
-- plan cached from a one-row statement would otherwise reuse for a 1,000-row one (B8: a hot workspace's writes
-- kept 0.79x their rate with EXCEPT, whose two hashed set operations cost a one-row update ~40 us more).
-- TRUNCATE has no rows: it marks every workspace dirty ("InboxCountsDirty"), which makes each next job a full
-- recompute.

-- Each function resolves names with the search_path the migration ran with, not the writing session's. Each one
-- records its pairs itself, in one upsert per statement (the same statement in every branch, the pairs apart):
-- a helper function called with the pairs as arrays cost a one-row write about 0.3 ms more (B8: a hot workspace
-- kept 0.66x its write rate with it, 0.76-0.89x without). An id that breaks recount's clientId rule
-- (docs/design.md §4) is not recorded: no job would ever clear it.

-- The workspace-level mark, for TRUNCATE only (the app's own marks keep their meaning: recompute it whole).
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

-- TRUNCATE has no rows to look at: every workspace is marked, and no lead state stands for its counts any more
-- (so each next job is a full pass that builds it anew, and reports no drift for what the TRUNCATE removed).
CREATE OR REPLACE FUNCTION recount_truncated() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM recount_state;
    PERFORM recount_mark_dirty(ARRAY(SELECT id FROM "Client"));
    RETURN NULL;
END;
$$;

-- Leads: every insert and delete; an update only when a column a count reads changed (not updatedAt alone),
-- recorded under the workspace before and after (a lead that moves leaves one and joins the other).
CREATE OR REPLACE FUNCTION recount_lead_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT n."clientId" AS client_id, n.id AS lead_id FROM recount_new n) pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT o."clientId" AS client_id, o.id AS lead_id FROM recount_old o) pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSE
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        -- Each lead whose counted columns (or id, or workspace) differ between before and after, under both
        -- workspaces: a full join on id (hashed or merged, never a nested loop, whatever the statement's size),
        -- each side's pair taken apart (a row with no partner on the other side, an id changed, still counts).
        FROM (SELECT DISTINCT changed.client_id, changed.lead_id FROM (
                SELECT unnest(ARRAY[n."clientId", o."clientId"]) AS client_id, unnest(ARRAY[n.id, o.id]) AS lead_id
                FROM recount_new n FULL JOIN recount_old o ON o.id = n.id
                WHERE (n.id, n."clientId", n.status, n."sentimentTag", n."lastInboundAt", n."lastOutboundAt",
                       n."lastZrgOutboundAt", n."snoozedUntil", n."assignedToUserId")
                      IS DISTINCT FROM
                      (o.id, o."clientId", o.status, o."sentimentTag", o."lastInboundAt", o."lastOutboundAt",
                       o."lastZrgOutboundAt", o."snoozedUntil", o."assignedToUserId")) changed
              WHERE changed.lead_id IS NOT NULL) pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    END IF;
    RETURN NULL;
END;
$$;

-- Messages feed one count, aiSent: the lead of a message that is (or was) an AI-sent email from a draft; a
-- message that changes lead records both. A draft's deletion sets its messages' "aiDraftId" to null: an update.
CREATE OR REPLACE FUNCTION recount_message_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id
              FROM recount_new m JOIN "Lead" l ON l.id = m."leadId"
              WHERE m.channel = 'email' AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
                AND m."aiDraftId" IS NOT NULL) pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id
              FROM recount_old m JOIN "Lead" l ON l.id = m."leadId"
              WHERE m.channel = 'email' AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
                AND m."aiDraftId" IS NOT NULL) pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSE
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id FROM (
                (SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_new
                 EXCEPT
                 SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_old)
                UNION ALL
                (SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_old
                 EXCEPT
                 SELECT id, "leadId", channel, direction, source, "sentBy", "aiDraftId" IS NULL FROM recount_new)
              ) changed JOIN "Lead" l ON l.id = changed."leadId") pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    END IF;
    RETURN NULL;
END;
$$;

-- AI drafts feed one count, aiReview: the lead of a draft that is (or was) pending and needing review.
CREATE OR REPLACE FUNCTION recount_draft_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id
              FROM recount_new d JOIN "Lead" l ON l.id = d."leadId"
              WHERE d.status = 'pending' AND d."autoSendAction" = 'needs_review') pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id
              FROM recount_old d JOIN "Lead" l ON l.id = d."leadId"
              WHERE d.status = 'pending' AND d."autoSendAction" = 'needs_review') pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    ELSE
        INSERT INTO recount_lead_change (client_id, lead_id, changed_at)
        SELECT pairs.client_id, pairs.lead_id, date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')
        FROM (SELECT DISTINCT l."clientId" AS client_id, l.id AS lead_id FROM (
                (SELECT id, "leadId", status, "autoSendAction" FROM recount_new
                 EXCEPT SELECT id, "leadId", status, "autoSendAction" FROM recount_old)
                UNION ALL
                (SELECT id, "leadId", status, "autoSendAction" FROM recount_old
                 EXCEPT SELECT id, "leadId", status, "autoSendAction" FROM recount_new)
              ) changed JOIN "Lead" l ON l.id = changed."leadId") pairs
        WHERE pairs.client_id ~ '^[A-Za-z0-9_-]{1,64}$'
          AND EXISTS (SELECT 1 FROM "Client" c WHERE c.id = pairs.client_id)
        ORDER BY pairs.client_id, pairs.lead_id
        ON CONFLICT (client_id, lead_id) DO UPDATE SET changed_at = excluded.changed_at;
    END IF;
    RETURN NULL;
END;
$$;

-- The helper of earlier versions of this file (the pairs as arrays), gone: each function records its own.
DROP FUNCTION IF EXISTS recount_record_leads(text[], text[]);

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
