-- Benchmark B6 (recount/bench/b6_growth.py): the rest of the database grown around one workspace, and the
-- rows recount's partial indexes cover counted before and after.

-- name: count_review_drafts
-- Review drafts in the whole database: the rows of recount's partial index on "AIDraft".
SELECT count(*) AS n FROM "AIDraft" WHERE status = 'pending' AND "autoSendAction" = 'needs_review';

-- name: count_ai_sent_emails
-- AI-sent emails in the whole database: the rows of recount's partial index on "Message".
SELECT count(*) AS n
FROM "Message"
WHERE channel = 'email' AND direction = 'outbound' AND source = 'zrg' AND "sentBy" = 'ai' AND "aiDraftId" IS NOT NULL;

-- name: grow_review_drafts
-- :copies more copies of every other workspace's review draft.
INSERT INTO "AIDraft" (id, "leadId", content, channel, status, "autoSendAction", "createdAt", "updatedAt")
SELECT gen_random_uuid()::text, d."leadId", d.content, d.channel, d.status, d."autoSendAction",
       d."createdAt", d."updatedAt"
FROM "AIDraft" d JOIN "Lead" l ON l.id = d."leadId", generate_series(1, :copies) g
WHERE l."clientId" <> :client_id AND d.status = 'pending' AND d."autoSendAction" = 'needs_review';

-- name: grow_ai_sent_emails
-- :copies more copies of every other workspace's AI-sent email.
INSERT INTO "Message" (id, "leadId", channel, source, body, direction, "sentBy", "aiDraftId", "sentAt", "createdAt")
SELECT gen_random_uuid()::text, m."leadId", m.channel, m.source, m.body, m.direction,
       m."sentBy", m."aiDraftId", m."sentAt", m."createdAt"
FROM "Message" m JOIN "Lead" l ON l.id = m."leadId", generate_series(1, :copies) g
WHERE l."clientId" <> :client_id AND m.channel = 'email'
  AND m.direction = 'outbound' AND m.source = 'zrg' AND m."sentBy" = 'ai' AND m."aiDraftId" IS NOT NULL;

-- name: vacuum_analyze
VACUUM (ANALYZE) "AIDraft", "Message";
