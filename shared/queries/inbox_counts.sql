-- Inbox counts of one workspace (docs/design.md §2). Parameters are named (:name); pg8000 binds them.

-- name: lock_and_read_marker
-- Begin a recompute: take the workspace's lock for this job (released at commit or rollback, so it
-- dies with its holder), read the dirty marker's generation, which keys the idempotency record, and
-- the committed change stamp, so a skip can still publish a version bump a failed run left owed.
-- With :incremental (a dirty job, which may take the incremental pass), it also decides whether it will: no mark,
-- the state whole, something due, and the changes few enough for the workspace (`incremental`).
-- For a full pass it chooses, by size, how the recompute statement finds each lead's review draft and AI-sent email
-- (bound into it, so the path not taken is not even planned): a probe per lead while the workspace is small
-- next to recount's partial index (one probe costs about as much as 20 index entries hashed, measured on
-- 2 cores), else one read of the index, hash-joined (nested loops off for the transaction: stale statistics
-- must not turn that join into leads x entries). A missing or invalid index: AIDraft has no other index on
-- leadId, so its drafts are read once; Message is probed through the app's ("leadId", ...) index. No
-- statistics yet (reltuples -1): probe, which costs only the workspace. The incremental pass needs none of it:
-- the leads are not counted, and nested loops stay on (its probes of the changed leads are index lookups).
WITH global_row AS (
    SELECT ic."computedAt" AS computed_at, ic."updatedAt" AS change_stamp
    FROM "InboxCounts" ic
    WHERE ic."clientId" = :client_id AND ic."isGlobal" AND ic."scopeUserId" = '00000000-0000-0000-0000-000000000000'
),
-- the state stands for the counts as they are: built under these rules by the last computation
ready AS (
    SELECT coalesce((SELECT s.rules = CAST(:rules AS integer) AND s.computed_at = g.computed_at
                     FROM recount_state s, global_row g WHERE s.client_id = :client_id), false) AS whole
),
-- The lead changes recorded for the workspace (counted no further than :max_changes + 1): their number, a key
-- derived from exactly these row versions (a redelivery that finds the same changes is a duplicate), the first.
changes AS (
    SELECT count(*)::int AS n,
           md5(string_agg(x.lead_id || ':' || x.xmin::text, ',' ORDER BY x.lead_id)) AS key,
           min(x.changed_at) AS first_at
    FROM (SELECT ch.lead_id, ch.xmin, ch.changed_at FROM recount_lead_change ch
          WHERE ch.client_id = :client_id ORDER BY ch.lead_id LIMIT CAST(:max_changes AS integer) + 1) x
),
due AS (
    SELECT (SELECT d.xmin::text FROM "InboxCountsDirty" d WHERE d."clientId" = :client_id) AS generation,
           -- a snooze ended since the last computation: the clock alone changed the counts. Through the state's
           -- index while it is whole (the workspace's own range), else through recount's snooze index on "Lead"
           -- over the sweep's lookback at most (a range over every workspace's snoozes)
           coalesce((SELECT CASE WHEN ready.whole
                                 THEN EXISTS (SELECT 1 FROM recount_lead_state st
                                              WHERE st.client_id = :client_id AND st.snoozed_until > g.computed_at
                                                AND st.snoozed_until <= n.now)
                                 ELSE EXISTS (SELECT 1 FROM "Lead" l
                                              WHERE l."snoozedUntil" > greatest(g.computed_at, n.now - interval '24 hours')
                                                AND l."snoozedUntil" <= n.now AND l."clientId" = :client_id)
                            END
                     FROM global_row g, ready,
                          (SELECT date_trunc('milliseconds', coalesce(CAST(:now AS timestamp),
                                                                      statement_timestamp() AT TIME ZONE 'UTC')) AS now) n),
                    false) AS snoozes_ended,
           -- as many leads as the crossover needs to see, only when the changes are many
           CASE WHEN c.n > CAST(:few_changes AS integer)
                THEN (SELECT count(*)::int FROM (SELECT 1 FROM "Lead" l WHERE l."clientId" = :client_id
                                                 LIMIT c.n * CAST(:crossover AS integer) + 1) x)
           END AS leads_seen
    FROM changes c
),
-- The incremental pass will run (shared/domain/jobs.py plans by this): asked for, no workspace mark, the state
-- whole, something due, and at most :few_changes changes or more than :crossover leads per change.
decision AS (
    SELECT CAST(:incremental AS boolean) AND d.generation IS NULL AND r.whole AND (c.n > 0 OR d.snoozes_ended)
           AND c.n <= CAST(:max_changes AS integer)
           AND (c.n <= CAST(:few_changes AS integer) OR coalesce(d.leads_seen, 0) > c.n * CAST(:crossover AS integer))
               AS incremental
    FROM due d, ready r, changes c
),
-- The full pass's index sizes (the incremental pass reads none of them)
entries AS (
    SELECT CASE WHEN NOT x.incremental
                THEN (SELECT CASE WHEN i.indisvalid THEN c.reltuples END
                      FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
                      WHERE c.oid = to_regclass('"AIDraft_recount_review_leadId_idx"'))
           END AS review,
           CASE WHEN NOT x.incremental
                THEN (SELECT CASE WHEN i.indisvalid THEN c.reltuples END
                      FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
                      WHERE c.oid = to_regclass('"Message_recount_aiSent_leadId_idx"'))
           END AS sent
    FROM decision x
),
-- counted once (materialized: the paths read it in several places, each would count again)
size AS MATERIALIZED (
    -- Counted no further than the largest count that could still probe or plan generically, and only for a full pass
    SELECT CASE WHEN NOT x.incremental
                THEN (SELECT count(*) FROM (SELECT 1 FROM "Lead" l WHERE l."clientId" = :client_id
                                            LIMIT greatest((greatest(e.review, e.sent, 0) / 20)::bigint,
                                                           CAST(:generic_plan_leads AS bigint)) + 1) y)
           END AS leads
    FROM entries e, decision x
),
paths AS (
    SELECT CASE WHEN NOT x.incremental THEN coalesce(e.review < 0 OR z.leads * 20 < e.review, false) END
               AS probe_review,
           CASE WHEN NOT x.incremental THEN coalesce(e.sent < 0 OR z.leads * 20 < e.sent, true) END AS probe_sent,
           z.leads
    FROM entries e, size z, decision x
),
-- A full pass over a tiny workspace that probes both ways runs one generic plan, kept once prepared: planning the
-- statement anew costs more than running it there. Its shape is the same for every such workspace (the leads by
-- the workspace's index, seq scans off for the transaction so that an average workspace's size, which a generic
-- plan sees, cannot turn it into a read of every lead; two probes per lead; the hash joins planned away). Only
-- with both probes: a generic plan is cached whatever enable_nestloop was, and the hash paths need it off.
generic AS (
    SELECT coalesce(p.probe_review AND p.probe_sent AND p.leads <= CAST(:generic_plan_leads AS integer), false)
               AS full_pass
    FROM paths p
)
SELECT pg_try_advisory_xact_lock(:lock_class, hashtext(:client_id)) AS locked,
       d.generation,
       (SELECT m."dirtyAt" FROM "InboxCountsDirty" m WHERE m."clientId" = :client_id) AS dirty_at,
       (SELECT g.change_stamp FROM global_row g) AS change_stamp,
       (SELECT g.computed_at FROM global_row g) AS computed_at,
       c.n AS changes,
       c.key AS changes_key,
       c.first_at AS first_change_at,
       -- the capture is on: the triggers of 004_dirty_triggers.sql exist, so the full recompute keeps the state
       EXISTS (SELECT 1 FROM pg_trigger t
               WHERE t.tgrelid = to_regclass('"Lead"') AND t.tgname = 'recount_lead_updated') AS capture,
       (SELECT r.whole FROM ready r) AS state_ready,
       d.snoozes_ended,
       d.leads_seen,
       x.incremental,
       p.probe_review,
       p.probe_sent,
       CASE WHEN NOT x.incremental
            THEN set_config('enable_nestloop', CASE WHEN p.probe_review AND p.probe_sent THEN 'on' ELSE 'off' END,
                            true)
       END AS nested_loops,
       -- A dirty job begins with generic plans (shared/domain/recompute.py): this query's and the incremental
       -- statement's plans are the same for every workspace (lookups by key), kept once prepared, where the
       -- sessions plan each statement anew otherwise and planning them costs more than running them. A full pass
       -- goes back to the session's own setting, so its statement is planned for this workspace's size, unless the
       -- workspace is tiny and probed (generic, above).
       CASE WHEN CAST(:incremental AS boolean) OR g.full_pass
            THEN set_config('plan_cache_mode',
                            -- force_custom_plan: the sessions' own (shared/adapters/postgres_session.py),
                            -- which a URL's options never override
                            CASE WHEN x.incremental OR g.full_pass THEN 'force_generic_plan' ELSE 'force_custom_plan' END,
                            true)
       END AS plan_cache,
       CASE WHEN g.full_pass THEN set_config('enable_seqscan', 'off', true) END AS seq_scans
FROM paths p, changes c, due d, decision x, generic g;

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
           -- as stored: trimmed once per value, below, not once per lead
           l."assignedToUserId" AS assigned,
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
-- Counted per assignee as stored, then per setter: the trim (a scan of the value for each of 25 characters) runs
-- once per distinct value instead of once per lead, where it cost a third of the statement at 100,000 leads.
assigned AS (
    SELECT l.assigned,
           count(*) AS total,
           count(*) FILTER (WHERE l.open) AS total_non_blacklisted,
           count(*) FILTER (WHERE l.status = 'needs_repair') AS needs_repair,
           count(*) FILTER (WHERE l.last_inbound > l.last_out) AS all_responses,
           count(*) FILTER (WHERE l.attention AND l.open AND l.last_inbound > l.last_out) AS requires_attention,
           count(*) FILTER (WHERE l.attention AND l.open AND l.last_out >= l.last_inbound)
               AS previously_required_attention,
           count(*) FILTER (WHERE l.review_probed OR r.lead_id IS NOT NULL) AS ai_review,
           count(*) FILTER (WHERE l.sent_probed OR s.lead_id IS NOT NULL) AS ai_sent
    FROM leads l
    LEFT JOIN review_all r ON r.lead_id = l.id
    LEFT JOIN sent_all s ON s.lead_id = l.id
    GROUP BY l.assigned
),
counted AS (
    SELECT grouping(a.setter) = 1 AS is_global,
           a.setter,
           coalesce(sum(a.total), 0)::int AS total,
           coalesce(sum(a.total_non_blacklisted), 0)::int AS total_non_blacklisted,
           coalesce(sum(a.needs_repair), 0)::int AS needs_repair,
           coalesce(sum(a.all_responses), 0)::int AS all_responses,
           coalesce(sum(a.requires_attention), 0)::int AS requires_attention,
           coalesce(sum(a.previously_required_attention), 0)::int AS previously_required_attention,
           coalesce(sum(a.ai_review), 0)::int AS ai_review,
           coalesce(sum(a.ai_sent), 0)::int AS ai_sent
    FROM (SELECT -- trimmed like JavaScript's String.prototype.trim, which the app uses
                 nullif(btrim(b.assigned, E' \t\n\r\f\u000b\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'), '') AS setter,
                 b.*
          FROM assigned b) a
    GROUP BY GROUPING SETS ((), (a.setter))
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
),
-- The lead changes this snapshot has counted are consumed too (compare-and-delete, as in apply_changes).
seen AS (
    SELECT ch.lead_id, ch.xmin AS version FROM recount_lead_change ch WHERE ch.client_id = :client_id
),
taken AS (
    SELECT ch.lead_id
    FROM recount_lead_change ch JOIN seen s ON s.lead_id = ch.lead_id
    WHERE ch.client_id = :client_id AND ch.xmin = s.version
    FOR UPDATE OF ch SKIP LOCKED
),
consumed AS (
    DELETE FROM recount_lead_change ch USING taken t
    WHERE ch.client_id = :client_id AND ch.lead_id = t.lead_id
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
       (SELECT count(*) FROM consumed)::int AS changes_consumed,
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

-- name: recompute_with_state
-- The full recompute while the capture is on (docs/design.md §10): as `recompute`, in one statement and one
-- snapshot, but over every lead of the workspace, snoozed ones included, so that it also writes what each lead
-- contributes (recount_lead_state, only the rows that differ), marks the state whole as of this computation
-- (recount_state) and consumes the lead changes it has counted.
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
leads AS (
    SELECT l.id,
           l.status,
           l."snoozedUntil" AS snoozed_until,
           l."lastInboundAt" AS last_inbound,
           coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) AS last_out,
           l.status NOT IN ('blacklisted', 'unqualified') AS open,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up'),
                    false) AS attention,
           nullif(btrim(l."assignedToUserId", E' \t\n\r\f\u000b\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'), '') AS setter,
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
    WHERE l."clientId" = :client_id
),
-- What each lead contributes (recount_lead_state's columns), and whether its snooze has ended by now.
contributions AS (
    SELECT l.id AS lead_id,
           l.setter,
           l.snoozed_until,
           l.open,
           l.status = 'needs_repair' AS needs_repair,
           coalesce(l.last_inbound > l.last_out, false) AS responded,
           coalesce(l.attention AND l.open AND l.last_inbound > l.last_out, false) AS requires_attention,
           coalesce(l.attention AND l.open AND l.last_out >= l.last_inbound, false) AS previously_required_attention,
           l.review_probed OR r.lead_id IS NOT NULL AS ai_review,
           l.sent_probed OR s.lead_id IS NOT NULL AS ai_sent,
           l.snoozed_until IS NULL OR l.snoozed_until <= (SELECT p.now FROM params p) AS active
    FROM leads l
    LEFT JOIN review_all r ON r.lead_id = l.id
    LEFT JOIN sent_all s ON s.lead_id = l.id
),
counted AS (
    SELECT grouping(c.setter) = 1 AS is_global,
           c.setter,
           count(*)::int AS total,
           count(*) FILTER (WHERE c.open)::int AS total_non_blacklisted,
           count(*) FILTER (WHERE c.needs_repair)::int AS needs_repair,
           count(*) FILTER (WHERE c.responded)::int AS all_responses,
           count(*) FILTER (WHERE c.requires_attention)::int AS requires_attention,
           count(*) FILTER (WHERE c.previously_required_attention)::int AS previously_required_attention,
           count(*) FILTER (WHERE c.ai_review)::int AS ai_review,
           count(*) FILTER (WHERE c.ai_sent)::int AS ai_sent
    FROM contributions c
    WHERE c.active
    GROUP BY GROUPING SETS ((), (c.setter))
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
-- The state stood for these counts before this pass: then a lead whose state row this pass must write, with no
-- change recorded for it, is a capture that never happened (triggers disabled, session_replication_role =
-- replica, a restore), repaired here and reported.
was_whole AS (
    SELECT EXISTS (SELECT 1 FROM recount_state rs JOIN old o ON o."isGlobal" AND o."computedAt" = rs.computed_at
                   WHERE rs.client_id = :client_id AND rs.rules = CAST(:rules AS integer)) AS whole
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
),
-- The state: only the rows that differ are written, so a recompute that finds it whole writes none.
state_written AS (
    INSERT INTO recount_lead_state AS st (
        client_id, lead_id, setter, snoozed_until, open, needs_repair, responded, requires_attention,
        previously_required_attention, ai_review, ai_sent)
    SELECT p.client_id, c.lead_id, c.setter, c.snoozed_until, c.open, c.needs_repair, c.responded,
           c.requires_attention, c.previously_required_attention, c.ai_review, c.ai_sent
    FROM contributions c, params p, workspace w
    WHERE w.present
    ON CONFLICT (client_id, lead_id) DO UPDATE SET
        setter = excluded.setter,
        snoozed_until = excluded.snoozed_until,
        open = excluded.open,
        needs_repair = excluded.needs_repair,
        responded = excluded.responded,
        requires_attention = excluded.requires_attention,
        previously_required_attention = excluded.previously_required_attention,
        ai_review = excluded.ai_review,
        ai_sent = excluded.ai_sent
    WHERE (st.setter, st.snoozed_until, st.open, st.needs_repair, st.responded, st.requires_attention,
           st.previously_required_attention, st.ai_review, st.ai_sent)
          IS DISTINCT FROM
          (excluded.setter, excluded.snoozed_until, excluded.open, excluded.needs_repair, excluded.responded,
           excluded.requires_attention, excluded.previously_required_attention, excluded.ai_review,
           excluded.ai_sent)
    RETURNING st.lead_id
),
state_removed AS (
    DELETE FROM recount_lead_state st
    WHERE st.client_id = :client_id
      AND NOT EXISTS (SELECT 1 FROM contributions c WHERE c.lead_id = st.lead_id)
    RETURNING st.lead_id
),
state_whole AS (
    INSERT INTO recount_state AS rs (client_id, rules, computed_at)
    SELECT p.client_id, CAST(:rules AS integer), p.now
    FROM params p, workspace w
    WHERE w.present
    ON CONFLICT (client_id) DO UPDATE SET rules = excluded.rules, computed_at = excluded.computed_at
    RETURNING 1
),
seen AS (
    SELECT ch.lead_id, ch.xmin AS version FROM recount_lead_change ch WHERE ch.client_id = :client_id
),
taken AS (
    SELECT ch.lead_id
    FROM recount_lead_change ch JOIN seen s ON s.lead_id = ch.lead_id
    WHERE ch.client_id = :client_id AND ch.xmin = s.version
    FOR UPDATE OF ch SKIP LOCKED
),
consumed AS (
    DELETE FROM recount_lead_change ch USING taken t
    WHERE ch.client_id = :client_id AND ch.lead_id = t.lead_id
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
       (SELECT count(*) FROM consumed)::int AS changes_consumed,
       (SELECT count(*) FROM state_written)::int + (SELECT count(*) FROM state_removed)::int AS state_rows_written,
       (SELECT count(*) FROM (SELECT x.lead_id FROM state_written x UNION SELECT y.lead_id FROM state_removed y) r
        WHERE (SELECT v.whole FROM was_whole v)
          AND NOT EXISTS (SELECT 1 FROM seen e WHERE e.lead_id = r.lead_id))::int AS state_drift,
       EXISTS (SELECT 1 FROM state_whole) AS state_whole,
       p.now AS computed_at
FROM stamp s, params p, workspace w;

-- name: apply_changes
-- The incremental job (docs/design.md §10): in one statement and one snapshot, recompute only the leads with a
-- recorded change, and the leads whose snooze ended since the last computation (found through the state's
-- index), and add what they contribute now less what they contributed then to the global row and the setter
-- rows they touch. A setter's row goes when no lead of it is left; the change stamp and the marker stay as in
-- `recompute`. A change row is consumed only as the version this snapshot read and only when no writer holds
-- it (SKIP LOCKED): a change recorded since, or being recorded, survives for the next job. Replayed, the job
-- finds its changes gone and the state equal to the leads: nothing is left to apply.
WITH params AS (
    SELECT CAST(:client_id AS text) AS client_id,
           g."computedAt" AS since,
           -- one instant per job, never before the last computation's (every snooze that ended by it moves now)
           greatest(g."computedAt", date_trunc('milliseconds', coalesce(CAST(:now AS timestamp),
                                                                      statement_timestamp() AT TIME ZONE 'UTC')))
               AS now,
           date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC') AS clock
    FROM "InboxCounts" g
    -- the state still stands for these counts (the lock query read it before the lock was taken)
    JOIN recount_state rs ON rs.client_id = g."clientId" AND rs.rules = CAST(:rules AS integer)
                         AND rs.computed_at = g."computedAt"
    WHERE g."clientId" = :client_id AND g."isGlobal" AND g."scopeUserId" = '00000000-0000-0000-0000-000000000000'
),
seen AS (
    SELECT ch.lead_id, ch.xmin AS version, ch.changed_at
    FROM recount_lead_change ch, params p  -- nothing is read, nor consumed, unless the state is whole
    WHERE ch.client_id = :client_id
),
taken AS (
    SELECT ch.lead_id, s.changed_at
    FROM recount_lead_change ch JOIN seen s ON s.lead_id = ch.lead_id
    WHERE ch.client_id = :client_id AND ch.xmin = s.version
    FOR UPDATE OF ch SKIP LOCKED
),
-- The changed leads as they are now in this workspace (a lead gone, or moved away, has none).
fresh AS (
    SELECT l.id AS lead_id,
           nullif(btrim(l."assignedToUserId", E' \t\n\r\f\u000b\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'), '') AS setter,
           l."snoozedUntil" AS snoozed_until,
           l.status NOT IN ('blacklisted', 'unqualified') AS open,
           l.status = 'needs_repair' AS needs_repair,
           coalesce(l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp),
                    false) AS responded,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up')
                    AND l.status NOT IN ('blacklisted', 'unqualified')
                    AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp),
                    false) AS requires_attention,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up')
                    AND l.status NOT IN ('blacklisted', 'unqualified')
                    AND coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) >= l."lastInboundAt",
                    false) AS previously_required_attention,
           EXISTS (SELECT 1 FROM "AIDraft" d
                   WHERE d."leadId" = l.id AND d.status = 'pending' AND d."autoSendAction" = 'needs_review')
               AS ai_review,
           EXISTS (SELECT 1 FROM "Message" m
                   WHERE m."leadId" = l.id AND m.direction = 'outbound' AND m.source = 'zrg'
                     AND m.channel = 'email' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL) AS ai_sent
    FROM taken t
    JOIN "Lead" l ON l.id = t.lead_id
    WHERE l."clientId" = :client_id
),
-- What the changed leads contributed at the last computation.
before AS (
    SELECT st.*
    FROM taken t
    JOIN recount_lead_state st ON st.client_id = :client_id AND st.lead_id = t.lead_id
),
-- Leads whose snooze ended since the last computation and that did not change: they come in as they were.
woken AS (
    SELECT st.*
    FROM recount_lead_state st, params p
    WHERE st.client_id = :client_id AND st.snoozed_until > p.since AND st.snoozed_until <= p.now
      AND NOT EXISTS (SELECT 1 FROM taken t WHERE t.lead_id = st.lead_id)
),
deltas AS (
    SELECT -1 AS sign, b.setter, b.open, b.needs_repair, b.responded, b.requires_attention,
           b.previously_required_attention, b.ai_review, b.ai_sent
    FROM before b, params p
    WHERE b.snoozed_until IS NULL OR b.snoozed_until <= p.since
    UNION ALL
    SELECT 1, f.setter, f.open, f.needs_repair, f.responded, f.requires_attention,
           f.previously_required_attention, f.ai_review, f.ai_sent
    FROM fresh f, params p
    WHERE f.snoozed_until IS NULL OR f.snoozed_until <= p.now
    UNION ALL
    SELECT 1, w.setter, w.open, w.needs_repair, w.responded, w.requires_attention,
           w.previously_required_attention, w.ai_review, w.ai_sent
    FROM woken w
),
summed AS (
    SELECT grouping(d.setter) = 1 AS is_global,
           d.setter,
           coalesce(sum(d.sign), 0)::int AS total,
           coalesce(sum(d.sign) FILTER (WHERE d.open), 0)::int AS total_non_blacklisted,
           coalesce(sum(d.sign) FILTER (WHERE d.needs_repair), 0)::int AS needs_repair,
           coalesce(sum(d.sign) FILTER (WHERE d.responded), 0)::int AS all_responses,
           coalesce(sum(d.sign) FILTER (WHERE d.requires_attention), 0)::int AS requires_attention,
           coalesce(sum(d.sign) FILTER (WHERE d.previously_required_attention), 0)::int
               AS previously_required_attention,
           coalesce(sum(d.sign) FILTER (WHERE d.ai_review), 0)::int AS ai_review,
           coalesce(sum(d.sign) FILTER (WHERE d.ai_sent), 0)::int AS ai_sent
    FROM deltas d
    GROUP BY GROUPING SETS ((), (d.setter))
),
-- Each touched row as it is and as it becomes (a setter without a row starts from zero).
touched AS (
    SELECT s.is_global,
           CASE WHEN s.is_global THEN '00000000-0000-0000-0000-000000000000' ELSE s.setter END AS scope_user_id,
           o.id AS old_id,
           o."updatedAt" AS old_stamp,
           (o.total, o."totalNonBlacklisted", o."needsRepair", o."allResponses", o."requiresAttention",
            o."previouslyRequiredAttention", o."aiReview", o."aiSent", o."awaitingReply") AS old_counts,
           coalesce(o.total, 0) + s.total AS total,
           coalesce(o."totalNonBlacklisted", 0) + s.total_non_blacklisted AS total_non_blacklisted,
           coalesce(o."needsRepair", 0) + s.needs_repair AS needs_repair,
           coalesce(o."allResponses", 0) + s.all_responses AS all_responses,
           coalesce(o."requiresAttention", 0) + s.requires_attention AS requires_attention,
           coalesce(o."previouslyRequiredAttention", 0) + s.previously_required_attention
               AS previously_required_attention,
           coalesce(o."aiReview", 0) + s.ai_review AS ai_review,
           coalesce(o."aiSent", 0) + s.ai_sent AS ai_sent
    FROM summed s
    LEFT JOIN "InboxCounts" o
      ON o."clientId" = :client_id AND o."isGlobal" = s.is_global
     AND o."scopeUserId" = CASE WHEN s.is_global THEN '00000000-0000-0000-0000-000000000000' ELSE s.setter END
    WHERE s.is_global OR s.setter IS NOT NULL
),
next AS (
    SELECT t.*,
           greatest(0, t.total_non_blacklisted - t.requires_attention) AS awaiting_reply,
           t.is_global OR t.total > 0 AS kept
    FROM touched t
),
differs AS (
    SELECT n.*,
           CASE WHEN NOT n.kept THEN n.old_id IS NOT NULL
                ELSE n.old_id IS NULL
                  OR n.old_counts IS DISTINCT FROM
                     (n.total, n.total_non_blacklisted, n.needs_repair, n.all_responses, n.requires_attention,
                      n.previously_required_attention, n.ai_review, n.ai_sent, n.awaiting_reply)
           END AS changed
    FROM next n
),
stamp AS (
    SELECT EXISTS (SELECT 1 FROM differs d WHERE d.changed) AS changed,
           CASE WHEN EXISTS (SELECT 1 FROM differs d WHERE d.changed)
                THEN greatest(p.clock, (SELECT d.old_stamp + interval '1 millisecond' FROM differs d WHERE d.is_global))
                ELSE (SELECT d.old_stamp FROM differs d WHERE d.is_global)
           END AS change_stamp
    FROM params p
),
upserted AS (
    INSERT INTO "InboxCounts" AS ic (
        id, "clientId", "isGlobal", "scopeUserId", total, "totalNonBlacklisted", "needsRepair",
        "allResponses", "requiresAttention", "previouslyRequiredAttention", "aiReview", "aiSent",
        "awaitingReply", "computedAt", "updatedAt")
    SELECT gen_random_uuid()::text, p.client_id, d.is_global, d.scope_user_id, d.total,
           d.total_non_blacklisted, d.needs_repair, d.all_responses, d.requires_attention,
           d.previously_required_attention, d.ai_review, d.ai_sent, d.awaiting_reply, p.now,
           CASE WHEN d.is_global OR d.changed THEN s.change_stamp ELSE d.old_stamp END
    FROM differs d, params p, stamp s
    WHERE d.kept AND (d.is_global OR d.changed)
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
        "updatedAt" = excluded."updatedAt"
    RETURNING 1
),
pruned AS (
    DELETE FROM "InboxCounts" ic
    USING differs d
    WHERE ic."clientId" = :client_id AND NOT ic."isGlobal" AND ic."scopeUserId" = d.scope_user_id
      AND NOT d.is_global AND NOT d.kept
    RETURNING 1
),
state_written AS (
    INSERT INTO recount_lead_state AS st (
        client_id, lead_id, setter, snoozed_until, open, needs_repair, responded, requires_attention,
        previously_required_attention, ai_review, ai_sent)
    SELECT p.client_id, f.lead_id, f.setter, f.snoozed_until, f.open, f.needs_repair, f.responded,
           f.requires_attention, f.previously_required_attention, f.ai_review, f.ai_sent
    FROM fresh f, params p
    ON CONFLICT (client_id, lead_id) DO UPDATE SET
        setter = excluded.setter,
        snoozed_until = excluded.snoozed_until,
        open = excluded.open,
        needs_repair = excluded.needs_repair,
        responded = excluded.responded,
        requires_attention = excluded.requires_attention,
        previously_required_attention = excluded.previously_required_attention,
        ai_review = excluded.ai_review,
        ai_sent = excluded.ai_sent
    WHERE (st.setter, st.snoozed_until, st.open, st.needs_repair, st.responded, st.requires_attention,
           st.previously_required_attention, st.ai_review, st.ai_sent)
          IS DISTINCT FROM
          (excluded.setter, excluded.snoozed_until, excluded.open, excluded.needs_repair, excluded.responded,
           excluded.requires_attention, excluded.previously_required_attention, excluded.ai_review,
           excluded.ai_sent)
    RETURNING 1
),
state_removed AS (
    DELETE FROM recount_lead_state st
    USING before b
    WHERE st.client_id = :client_id AND st.lead_id = b.lead_id
      AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.lead_id = b.lead_id)
    RETURNING 1
),
state_whole AS (
    UPDATE recount_state rs SET computed_at = p.now
    FROM params p
    WHERE rs.client_id = :client_id
    RETURNING 1
),
consumed AS (
    DELETE FROM recount_lead_change ch USING taken t
    WHERE ch.client_id = :client_id AND ch.lead_id = t.lead_id
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM params) AS state_ready,
       true AS workspace_exists,
       (SELECT count(*) FROM upserted)::int AS rows_written,
       (SELECT count(*) FROM pruned)::int AS rows_deleted,
       coalesce(s.changed, false) AS changed,
       s.change_stamp,
       NULL::text AS generation,
       (SELECT min(t.changed_at) FROM taken t) AS dirty_at,
       false AS marker_cleared,
       (SELECT count(*) FROM consumed)::int AS changes_consumed,
       (SELECT count(*) FROM state_written)::int + (SELECT count(*) FROM state_removed)::int AS state_rows_written,
       EXISTS (SELECT 1 FROM state_whole) AS state_whole,
       (SELECT count(*) FROM woken)::int AS snoozes_moved,
       (SELECT p.now FROM params p) AS computed_at
FROM (SELECT 1) one
LEFT JOIN stamp s ON true;

-- name: state_differences
-- For `recount verify`, while the workspace's state is whole (recount_state under these rules, as of its global
-- row's computation): the leads whose recorded contribution differs from a fresh one, leaving out those with a
-- change recorded (the next job applies them). Zero when the state is not in use.
WITH ready AS (
    SELECT 1
    FROM recount_state rs
    JOIN "InboxCounts" g ON g."clientId" = rs.client_id AND g."isGlobal"
                        AND g."scopeUserId" = '00000000-0000-0000-0000-000000000000'
                        AND g."computedAt" = rs.computed_at
    WHERE rs.client_id = :client_id AND rs.rules = CAST(:rules AS integer)
),
fresh AS (
    SELECT l.id AS lead_id,
           nullif(btrim(l."assignedToUserId", E' \t\n\r\f\u000b\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'), '') AS setter,
           l."snoozedUntil" AS snoozed_until,
           l.status NOT IN ('blacklisted', 'unqualified') AS open,
           l.status = 'needs_repair' AS needs_repair,
           coalesce(l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp),
                    false) AS responded,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up')
                    AND l.status NOT IN ('blacklisted', 'unqualified')
                    AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp),
                    false) AS requires_attention,
           coalesce(l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                         'Information Requested', 'Positive', 'Interested', 'Follow Up')
                    AND l.status NOT IN ('blacklisted', 'unqualified')
                    AND coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) >= l."lastInboundAt",
                    false) AS previously_required_attention,
           EXISTS (SELECT 1 FROM "AIDraft" d
                   WHERE d."leadId" = l.id AND d.status = 'pending' AND d."autoSendAction" = 'needs_review')
               AS ai_review,
           EXISTS (SELECT 1 FROM "Message" m
                   WHERE m."leadId" = l.id AND m.direction = 'outbound' AND m.source = 'zrg'
                     AND m.channel = 'email' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL) AS ai_sent
    FROM "Lead" l
    WHERE l."clientId" = :client_id AND EXISTS (SELECT 1 FROM ready)
),
stored AS (
    SELECT st.lead_id, st.setter, st.snoozed_until, st.open, st.needs_repair, st.responded, st.requires_attention,
           st.previously_required_attention, st.ai_review, st.ai_sent
    FROM recount_lead_state st
    WHERE st.client_id = :client_id AND EXISTS (SELECT 1 FROM ready)
),
differing AS (
    SELECT coalesce(f.lead_id, s.lead_id) AS lead_id
    FROM fresh f
    FULL JOIN stored s ON s.lead_id = f.lead_id
    WHERE (f.setter, f.snoozed_until, f.open, f.needs_repair, f.responded, f.requires_attention,
           f.previously_required_attention, f.ai_review, f.ai_sent)
          IS DISTINCT FROM
          (s.setter, s.snoozed_until, s.open, s.needs_repair, s.responded, s.requires_attention,
           s.previously_required_attention, s.ai_review, s.ai_sent)
      AND NOT EXISTS (SELECT 1 FROM recount_lead_change ch
                      WHERE ch.client_id = :client_id AND ch.lead_id = coalesce(f.lead_id, s.lead_id))
)
SELECT count(*)::int AS differing,
       coalesce((SELECT array_agg(x.lead_id ORDER BY x.lead_id) FROM (SELECT d.lead_id FROM differing d
                                                                      ORDER BY d.lead_id LIMIT 5) x),
                ARRAY[]::text[]) AS sample
FROM differing;
