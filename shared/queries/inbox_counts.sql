-- Inbox counts of one workspace (docs/design.md §2). Parameters are named (:name); pg8000 binds them.

-- name: lock_and_read_marker
-- Begin a recompute: take the workspace's lock for this job (released at commit or rollback, so it
-- dies with its holder), read the dirty marker's generation, which keys the idempotency record, and
-- the committed change stamp, so a skip can still publish a version bump a failed run left owed.
-- It also chooses, by size, how the recompute statement finds each lead's review draft and AI-sent email
-- (bound into it, so the path not taken is not even planned): a probe per lead while the workspace is small
-- next to recount's partial index (one probe costs about as much as 20 index entries hashed, measured on
-- 2 cores), else one read of the index, hash-joined (nested loops off for the transaction: stale statistics
-- must not turn that join into leads x entries). A missing or invalid index: AIDraft has no other index on
-- leadId, so its drafts are read once; Message is probed through the app's ("leadId", ...) index. No
-- statistics yet (reltuples -1): probe, which costs only the workspace.
WITH entries AS (
    SELECT (SELECT CASE WHEN i.indisvalid THEN c.reltuples END
            FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
            WHERE c.oid = to_regclass('"AIDraft_recount_review_leadId_idx"')) AS review,
           (SELECT CASE WHEN i.indisvalid THEN c.reltuples END
            FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
            WHERE c.oid = to_regclass('"Message_recount_aiSent_leadId_idx"')) AS sent
),
size AS (
    -- Counted no further than the largest count that could still probe
    SELECT (SELECT count(*) FROM (SELECT 1 FROM "Lead" l WHERE l."clientId" = :client_id
                                  LIMIT (greatest(e.review, e.sent, 0) / 20)::bigint + 1) x) AS leads
    FROM entries e
),
paths AS (
    SELECT coalesce(e.review < 0 OR z.leads * 20 < e.review, false) AS probe_review,
           coalesce(e.sent < 0 OR z.leads * 20 < e.sent, true) AS probe_sent
    FROM entries e, size z
)
SELECT pg_try_advisory_xact_lock(:lock_class, hashtext(:client_id)) AS locked,
       (SELECT d.xmin::text FROM "InboxCountsDirty" d WHERE d."clientId" = :client_id) AS generation,
       (SELECT d."dirtyAt" FROM "InboxCountsDirty" d WHERE d."clientId" = :client_id) AS dirty_at,
       (SELECT ic."updatedAt" FROM "InboxCounts" ic
        WHERE ic."clientId" = :client_id AND ic."isGlobal"
          AND ic."scopeUserId" = '00000000-0000-0000-0000-000000000000') AS change_stamp,
       p.probe_review,
       p.probe_sent,
       set_config('enable_nestloop', CASE WHEN p.probe_review AND p.probe_sent THEN 'on' ELSE 'off' END, true)
           AS nested_loops
FROM paths p;

-- name: recompute
-- One statement, one snapshot: read the marker, read the workspace's non-snoozed leads once, counting
-- them for the global row and every setter row (GROUPING SETS), write only what the workspace needs, prune setters
-- without leads, and clear the marker only if it is still the version this snapshot read
-- (compare-and-delete on xmin: a mark that lands meanwhile, even in the same millisecond, survives).
WITH params AS (
    SELECT CAST(:client_id AS text) AS client_id,
           date_trunc('milliseconds', coalesce(CAST(:now AS timestamp),
                                               statement_timestamp() AT TIME ZONE 'UTC')) AS now,
           date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC') AS clock
),
workspace AS (
    SELECT EXISTS (SELECT 1 FROM "Client" c WHERE c.id = :client_id) AS present
),
marker AS (
    SELECT d.xmin AS generation, d."dirtyAt" AS dirty_at
    FROM "InboxCountsDirty" d
    WHERE d."clientId" = :client_id
),
leads AS (
    SELECT l.id,
           l.status,
           l."lastInboundAt" AS last_inbound,
           coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) AS last_out,
           l.status NOT IN ('blacklisted', 'unqualified') AS open,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up'),
                    false) AS attention,
           -- trimmed like JavaScript's String.prototype.trim, which the app uses
           nullif(btrim(l."assignedToUserId", E' \t\n\r\f\u000b\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'), '') AS setter,
           -- A probe per lead when lock_and_read_marker chose it (OFFSET 0 keeps EXISTS a probe: without it the
           -- planner may turn it into a hash of the whole index); otherwise the joins below answer.
           CAST(:probe_review AS boolean)
               AND EXISTS (SELECT 1 FROM "AIDraft" d
                           WHERE d."leadId" = l.id AND d.status = 'pending' AND d."autoSendAction" = 'needs_review'
                           OFFSET 0) AS review_probed,
           CAST(:probe_sent AS boolean)
               AND EXISTS (SELECT 1 FROM "Message" m
                           WHERE m."leadId" = l.id AND m.direction = 'outbound' AND m.source = 'zrg'
                             AND m.channel = 'email' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL
                           OFFSET 0) AS sent_probed
    FROM "Lead" l
    WHERE l."clientId" = :client_id  -- the bound value, not p.client_id: the planner sees the workspace's size
      AND (l."snoozedUntil" IS NULL OR l."snoozedUntil" <= (SELECT p.now FROM params p))
),
-- For a workspace too big to probe: every lead with a review draft / an AI-sent email, read once from recount's
-- partial indexes and hash-joined (spilling to disk if it must); planned away when the leads are probed.
review_all AS (
    SELECT DISTINCT d."leadId" AS lead_id
    FROM "AIDraft" d
    WHERE NOT CAST(:probe_review AS boolean) AND d.status = 'pending' AND d."autoSendAction" = 'needs_review'
),
sent_all AS (
    SELECT DISTINCT m."leadId" AS lead_id
    FROM "Message" m
    WHERE NOT CAST(:probe_sent AS boolean) AND m.direction = 'outbound' AND m.source = 'zrg'
      AND m.channel = 'email' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL
),
counted AS (
    SELECT grouping(l.setter) = 1 AS is_global,
           l.setter,
           count(*)::int AS total,
           count(*) FILTER (WHERE l.open)::int AS total_non_blacklisted,
           count(*) FILTER (WHERE l.status = 'needs_repair')::int AS needs_repair,
           count(*) FILTER (WHERE l.last_inbound > l.last_out)::int AS all_responses,
           count(*) FILTER (WHERE l.attention AND l.open AND l.last_inbound > l.last_out)::int
               AS requires_attention,
           count(*) FILTER (WHERE l.attention AND l.open AND l.last_out >= l.last_inbound)::int
               AS previously_required_attention,
           count(*) FILTER (WHERE l.review_probed OR r.lead_id IS NOT NULL)::int AS ai_review,
           count(*) FILTER (WHERE l.sent_probed OR s.lead_id IS NOT NULL)::int AS ai_sent
    FROM leads l
    LEFT JOIN review_all r ON r.lead_id = l.id
    LEFT JOIN sent_all s ON s.lead_id = l.id
    GROUP BY GROUPING SETS ((), (l.setter))
),
fresh AS (
    SELECT c.is_global,
           CASE WHEN c.is_global THEN '00000000-0000-0000-0000-000000000000' ELSE c.setter END AS scope_user_id,
           c.total, c.total_non_blacklisted, c.needs_repair, c.all_responses, c.requires_attention,
           c.previously_required_attention, c.ai_review, c.ai_sent,
           greatest(0, c.total_non_blacklisted - c.requires_attention) AS awaiting_reply
    FROM counted c, workspace w
    WHERE w.present AND (c.is_global OR c.setter IS NOT NULL)
),
old AS (
    SELECT ic.*
    FROM "InboxCounts" ic
    WHERE ic."clientId" = :client_id
),
changes AS (
    SELECT count(*) AS n
    FROM fresh f
    FULL JOIN old o ON o."isGlobal" = f.is_global AND o."scopeUserId" = f.scope_user_id
    WHERE f.is_global IS NULL OR o.id IS NULL
       OR (o.total, o."totalNonBlacklisted", o."needsRepair", o."allResponses", o."requiresAttention",
           o."previouslyRequiredAttention", o."aiReview", o."aiSent", o."awaitingReply")
          IS DISTINCT FROM
          (f.total, f.total_non_blacklisted, f.needs_repair, f.all_responses, f.requires_attention,
           f.previously_required_attention, f.ai_review, f.ai_sent, f.awaiting_reply)
),
stamp AS (
    -- The global row's updatedAt is the workspace's change stamp: strictly increasing per effective
    -- change, so the version bump can be made idempotent on it.
    SELECT c.n > 0 AS changed,
           CASE WHEN c.n > 0
                THEN greatest(p.clock, (SELECT o."updatedAt" + interval '1 millisecond' FROM old o WHERE o."isGlobal"))
                ELSE (SELECT o."updatedAt" FROM old o WHERE o."isGlobal")
           END AS change_stamp
    FROM changes c, params p
),
upserted AS (
    INSERT INTO "InboxCounts" AS ic (
        id, "clientId", "isGlobal", "scopeUserId", total, "totalNonBlacklisted", "needsRepair",
        "allResponses", "requiresAttention", "previouslyRequiredAttention", "aiReview", "aiSent",
        "awaitingReply", "computedAt", "updatedAt")
    SELECT gen_random_uuid()::text, p.client_id, f.is_global, f.scope_user_id, f.total,
           f.total_non_blacklisted, f.needs_repair, f.all_responses, f.requires_attention,
           f.previously_required_attention, f.ai_review, f.ai_sent, f.awaiting_reply, p.now, s.change_stamp
    FROM fresh f, params p, stamp s
    ON CONFLICT ("clientId", "isGlobal", "scopeUserId") DO UPDATE SET
        total = excluded.total,
        "totalNonBlacklisted" = excluded."totalNonBlacklisted",
        "needsRepair" = excluded."needsRepair",
        "allResponses" = excluded."allResponses",
        "requiresAttention" = excluded."requiresAttention",
        "previouslyRequiredAttention" = excluded."previouslyRequiredAttention",
        "aiReview" = excluded."aiReview",
        "aiSent" = excluded."aiSent",
        "awaitingReply" = excluded."awaitingReply",
        "computedAt" = excluded."computedAt",
        "updatedAt" = CASE
            WHEN ic."isGlobal"
              OR (ic.total, ic."totalNonBlacklisted", ic."needsRepair", ic."allResponses",
                  ic."requiresAttention", ic."previouslyRequiredAttention", ic."aiReview", ic."aiSent",
                  ic."awaitingReply")
                 IS DISTINCT FROM
                 (excluded.total, excluded."totalNonBlacklisted", excluded."needsRepair",
                  excluded."allResponses", excluded."requiresAttention",
                  excluded."previouslyRequiredAttention", excluded."aiReview", excluded."aiSent",
                  excluded."awaitingReply")
            THEN excluded."updatedAt"
            ELSE ic."updatedAt"
        END
    RETURNING 1
),
pruned AS (
    DELETE FROM "InboxCounts" ic
    WHERE ic."clientId" = :client_id
      AND NOT ic."isGlobal"
      AND NOT EXISTS (SELECT 1 FROM fresh f WHERE NOT f.is_global AND f.scope_user_id = ic."scopeUserId")
    RETURNING 1
),
cleared AS (
    DELETE FROM "InboxCountsDirty" d
    USING marker m
    WHERE d."clientId" = :client_id AND d.xmin = m.generation
    RETURNING 1
)
SELECT w.present AS workspace_exists,
       (SELECT count(*) FROM upserted)::int AS rows_written,
       (SELECT count(*) FROM pruned)::int AS rows_deleted,
       s.changed,
       s.change_stamp,
       (SELECT m.generation::text FROM marker m) AS generation,
       (SELECT m.dirty_at FROM marker m) AS dirty_at,
       EXISTS (SELECT 1 FROM cleared) AS marker_cleared,
       p.now AS computed_at
FROM stamp s, params p, workspace w;

-- name: read_counts
-- The materialized rows of one workspace, global row first.
SELECT "isGlobal" AS is_global, "scopeUserId" AS scope_user_id, total,
       "totalNonBlacklisted" AS total_non_blacklisted, "needsRepair" AS needs_repair,
       "allResponses" AS all_responses, "requiresAttention" AS requires_attention,
       "previouslyRequiredAttention" AS previously_required_attention, "aiReview" AS ai_review,
       "aiSent" AS ai_sent, "awaitingReply" AS awaiting_reply, "computedAt" AS computed_at,
       "updatedAt" AS updated_at
FROM "InboxCounts"
WHERE "clientId" = :client_id
ORDER BY "isGlobal" DESC, "scopeUserId";
