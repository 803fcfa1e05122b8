-- The seed's approach, kept only to benchmark against: one query for the global row and a second,
-- grouped by setter, each probing drafts and messages with per-lead subqueries. Then B1's floor: the least pass.

-- name: global_counts
SELECT count(*)::int AS total,
       count(*) FILTER (WHERE l.status NOT IN ('blacklisted', 'unqualified'))::int AS total_non_blacklisted,
       count(*) FILTER (WHERE l.status = 'needs_repair')::int AS needs_repair,
       count(*) FILTER (WHERE l."lastInboundAt" IS NOT NULL
                          AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'))::int
           AS all_responses,
       count(*) FILTER (WHERE l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                                   'Information Requested', 'Positive', 'Interested', 'Follow Up')
                          AND l.status NOT IN ('blacklisted', 'unqualified') AND l."lastInboundAt" IS NOT NULL
                          AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'))::int
           AS requires_attention,
       count(*) FILTER (WHERE l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                                   'Information Requested', 'Positive', 'Interested', 'Follow Up')
                          AND l.status NOT IN ('blacklisted', 'unqualified') AND l."lastInboundAt" IS NOT NULL
                          AND coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch') >= l."lastInboundAt")::int
           AS previously_required_attention,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "AIDraft" d WHERE d."leadId" = l.id AND d.status = 'pending'
                                        AND d."autoSendAction" = 'needs_review'))::int AS ai_review,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "Message" m WHERE m."leadId" = l.id AND m.channel = 'email'
                                        AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
                                        AND m."aiDraftId" IS NOT NULL))::int AS ai_sent
FROM "Lead" l
WHERE l."clientId" = :client_id AND (l."snoozedUntil" IS NULL OR l."snoozedUntil" <= CAST(:now AS timestamp(3)));

-- name: setter_counts
SELECT btrim(l."assignedToUserId") AS setter,
       count(*)::int AS total,
       count(*) FILTER (WHERE l.status NOT IN ('blacklisted', 'unqualified'))::int AS total_non_blacklisted,
       count(*) FILTER (WHERE l.status = 'needs_repair')::int AS needs_repair,
       count(*) FILTER (WHERE l."lastInboundAt" IS NOT NULL
                          AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'))::int
           AS all_responses,
       count(*) FILTER (WHERE l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                                   'Information Requested', 'Positive', 'Interested', 'Follow Up')
                          AND l.status NOT IN ('blacklisted', 'unqualified') AND l."lastInboundAt" IS NOT NULL
                          AND l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'))::int
           AS requires_attention,
       count(*) FILTER (WHERE l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested',
                                                   'Information Requested', 'Positive', 'Interested', 'Follow Up')
                          AND l.status NOT IN ('blacklisted', 'unqualified') AND l."lastInboundAt" IS NOT NULL
                          AND coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch') >= l."lastInboundAt")::int
           AS previously_required_attention,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "AIDraft" d WHERE d."leadId" = l.id AND d.status = 'pending'
                                        AND d."autoSendAction" = 'needs_review'))::int AS ai_review,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "Message" m WHERE m."leadId" = l.id AND m.channel = 'email'
                                        AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai'
                                        AND m."aiDraftId" IS NOT NULL))::int AS ai_sent
FROM "Lead" l
WHERE l."clientId" = :client_id AND (l."snoozedUntil" IS NULL OR l."snoozedUntil" <= CAST(:now AS timestamp(3)))
  AND nullif(btrim(l."assignedToUserId"), '') IS NOT NULL
GROUP BY btrim(l."assignedToUserId");

-- name: least_pass
-- Not the seed's: what B1's floor under any full job computes. Every lead of the workspace read once (the snoozed
-- ones filtered out, with the statement's own cutoff), its review draft and AI-sent email found once, as recount's
-- lock query chose (a probe per lead, or one read of recount's partial index, hash-joined, exactly as the recompute
-- statement does) or probed per lead when both are bound true, and its part in each of the contract's counts
-- computed once and counted per assignee as stored: the counting every full job must do for its rows, and no more
-- (no trimming, no global row beside the setters', no comparison with the stored rows). One write, of the global
-- row as it is, so COMMIT flushes the WAL as the job's does.
WITH written AS (
    UPDATE "InboxCounts" SET "computedAt" = "computedAt" WHERE "clientId" = :client_id AND "isGlobal" RETURNING 1
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
    SELECT l."assignedToUserId" AS assigned,
           l.status NOT IN ('blacklisted', 'unqualified') AS open,
           l.status = 'needs_repair' AS needs_repair,
           l."lastInboundAt" > coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) AS responded,
           l."lastInboundAt" <= coalesce(l."lastZrgOutboundAt", l."lastOutboundAt", 'epoch'::timestamp) AS replied,
           l."sentimentTag" IN ('Meeting Booked', 'Meeting Requested', 'Call Requested', 'Information Requested',
                                'Positive', 'Interested', 'Follow Up') AS attention,
           CAST(:probe_review AS boolean)
               AND EXISTS (SELECT 1 FROM "AIDraft" d
                           WHERE d."leadId" = l.id AND d.status = 'pending' AND d."autoSendAction" = 'needs_review'
                           OFFSET 0)
               OR r.lead_id IS NOT NULL AS review,
           CAST(:probe_sent AS boolean)
               AND EXISTS (SELECT 1 FROM "Message" m
                           WHERE m."leadId" = l.id AND m.direction = 'outbound' AND m.source = 'zrg'
                             AND m.channel = 'email' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL
                           OFFSET 0)
               OR s.lead_id IS NOT NULL AS sent
    FROM "Lead" l
    LEFT JOIN review_all r ON r.lead_id = l.id
    LEFT JOIN sent_all s ON s.lead_id = l.id
    WHERE l."clientId" = :client_id
      AND (l."snoozedUntil" IS NULL
           OR l."snoozedUntil" <= (SELECT date_trunc('milliseconds', statement_timestamp() AT TIME ZONE 'UTC')))
    OFFSET 0  -- each lead's part computed once: inlined, each count would evaluate the tests it names again
)
SELECT l.assigned,
       count(*)::int AS total,
       count(*) FILTER (WHERE l.open)::int AS total_non_blacklisted,
       count(*) FILTER (WHERE l.needs_repair)::int AS needs_repair,
       count(*) FILTER (WHERE l.responded)::int AS all_responses,
       count(*) FILTER (WHERE l.attention AND l.open AND l.responded)::int AS requires_attention,
       count(*) FILTER (WHERE l.attention AND l.open AND l.replied)::int AS previously_required_attention,
       count(*) FILTER (WHERE l.review)::int AS ai_review,
       count(*) FILTER (WHERE l.sent)::int AS ai_sent
FROM leads l
GROUP BY l.assigned;
