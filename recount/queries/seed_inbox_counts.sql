-- The seed's approach, kept only to benchmark against: one query for the global row and a second,
-- grouped by setter, each probing drafts and messages with per-lead subqueries.

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
