-- Generated workspaces for the demo, benchmarks and plan checks: realistic shapes, made in SQL.

-- name: create_client
INSERT INTO "Client" (id, name, "userId", "updatedAt")
VALUES (:client_id, :name, gen_random_uuid()::text, now() AT TIME ZONE 'UTC')
ON CONFLICT (id) DO NOTHING;

-- name: create_leads
-- :leads leads over :setters setters (a tenth unassigned, a few with stray whitespace), a spread of
-- statuses and sentiment tags, a twentieth snoozed (half of those already expired), replies and
-- outbound times within the last :days days.
INSERT INTO "Lead" (id, "clientId", status, "sentimentTag", "lastInboundAt", "lastOutboundAt",
                    "lastZrgOutboundAt", "lastMessageAt", "snoozedUntil", "appointmentBookedAt",
                    "assignedToUserId", "createdAt", "updatedAt")
SELECT gen_random_uuid()::text, :client_id,
       (ARRAY['new', 'new', 'new', 'contacted', 'qualified', 'meeting-booked', 'needs_repair',
              'unqualified', 'blacklisted'])[1 + floor(random() * 9)::int],
       (ARRAY[NULL, NULL, 'Meeting Booked', 'Meeting Requested', 'Call Requested', 'Information Requested',
              'Positive', 'Interested', 'Follow Up', 'Not Interested', 'Out of Office'])[1 + floor(random() * 11)::int],
       CASE WHEN random() < 0.6 THEN t.now - random() * make_interval(days => :days) END,
       CASE WHEN random() < 0.7 THEN t.now - random() * make_interval(days => :days) END,
       CASE WHEN random() < 0.4 THEN t.now - random() * make_interval(days => :days) END,
       t.now - random() * make_interval(days => :days),
       CASE WHEN random() < 0.05 THEN t.now + (random() - 0.5) * interval '2 days' END,
       CASE WHEN random() < 0.08 THEN t.now - random() * make_interval(days => :days) END,
       CASE WHEN random() < 0.1 THEN NULL
            WHEN random() < 0.02 THEN ' setter-' || (g % greatest(:setters, 1)) || ' '
            ELSE 'setter-' || (g % greatest(:setters, 1)) END,
       t.now - random() * make_interval(days => :days * 3),
       t.now
FROM generate_series(1, :leads) AS g,
     (SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC') AS now) AS t;

-- name: create_drafts
-- About :per_lead drafts per lead of the workspace (drawn per lead), some pending review.
INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", "createdAt", "updatedAt")
SELECT gen_random_uuid()::text, l.id, 'draft', 'email',
       (ARRAY['pending', 'approved', 'rejected'])[1 + floor(random() * 3)::int],
       (ARRAY['send_immediate', 'send_delayed', 'needs_review', 'skip', 'error', NULL])[1 + floor(random() * 6)::int],
       l."createdAt", l."updatedAt"
FROM "Lead" l
CROSS JOIN LATERAL generate_series(1, floor(CAST(:per_lead AS float8) * 2 * random() + 0.5 + 0 * ascii(l.id))::int) AS g
WHERE l."clientId" = :client_id;

-- name: create_messages
-- About :per_lead messages per lead (drawn per lead), inbound and outbound over every channel and sender.
INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", "aiDraftId", "sentAt", "createdAt")
SELECT gen_random_uuid()::text, l.id,
       (ARRAY['sms', 'email', 'email', 'linkedin'])[1 + floor(random() * 4)::int],
       (ARRAY['zrg', 'zrg', 'inboxxia_campaign'])[1 + floor(random() * 3)::int],
       'hello', CASE WHEN random() < 0.4 THEN 'inbound' ELSE 'outbound' END,
       (ARRAY['ai', 'setter', NULL])[1 + floor(random() * 3)::int],
       NULL,
       now() AT TIME ZONE 'UTC' - random() * make_interval(days => :days),
       now() AT TIME ZONE 'UTC'
FROM "Lead" l
CROSS JOIN LATERAL generate_series(1, floor(CAST(:per_lead AS float8) * 2 * random() + 0.5 + 0 * ascii(l.id))::int) AS g
WHERE l."clientId" = :client_id;

-- name: link_ai_messages
-- Most AI-sent messages of a lead that has drafts point at one of them.
UPDATE "Message" m
SET "aiDraftId" = d.id
FROM (SELECT DISTINCT ON (d."leadId") d.id, d."leadId"
      FROM "AIDraft" d JOIN "Lead" l ON l.id = d."leadId"
      WHERE l."clientId" = :client_id
      ORDER BY d."leadId", d.id) AS d
WHERE m."leadId" = d."leadId" AND m."sentBy" = 'ai' AND random() < 0.7;
