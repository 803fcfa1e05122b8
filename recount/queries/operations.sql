-- The operator commands' reads (python -m recount status | backfill | verify). None of them writes.
-- The counting itself is never repeated here: verify runs shared/queries/inbox_counts.sql and rolls back.

-- name: client_ids
-- Every workspace, for backfill --all and verify --all.
SELECT id AS client_id FROM "Client" ORDER BY id;

-- name: sample_client_ids
-- A random sample of workspaces, for verify --sample N.
SELECT id AS client_id FROM "Client" ORDER BY random() LIMIT :sample_size;

-- name: workspace_state
-- What PostgreSQL knows about one workspace's freshness: the dirty marker and its age, and when each
-- materialization was last computed.
SELECT EXISTS (SELECT 1 FROM "Client" c WHERE c.id = :client_id) AS workspace_exists,
       d."dirtyAt" AS dirty_at,
       d.xmin::text AS generation,
       extract(epoch FROM (statement_timestamp() AT TIME ZONE 'UTC') - d."dirtyAt")::float8 AS dirty_age_s,
       (SELECT ic."computedAt" FROM "InboxCounts" ic
        WHERE ic."clientId" = :client_id AND ic."isGlobal"
          AND ic."scopeUserId" = '00000000-0000-0000-0000-000000000000') AS counts_computed_at,
       (SELECT max(a."computedAt") FROM "AnalyticsDailyAggregates" a
        WHERE a."clientId" = :client_id) AS aggregates_computed_at
FROM (SELECT 1) AS one
LEFT JOIN "InboxCountsDirty" d ON d."clientId" = :client_id;

-- name: snoozes_expired_between
-- Whether a snooze of this workspace ended in (:since, :until]: between the last computation and a fresh
-- one, its counts changed with the clock alone, and the inbox sweep enqueues it (sweep.sql snoozes_expired).
SELECT EXISTS (
    SELECT 1
    FROM "Lead" l
    WHERE l."clientId" = :client_id
      AND l."snoozedUntil" > CAST(:since AS timestamp(3))
      AND l."snoozedUntil" <= CAST(:until AS timestamp(3))
) AS expired;

-- name: changed_since
-- What of one workspace the app changed after its counts were last computed (verify --explain): the leads
-- (by their updatedAt, which Prisma sets on every update), and how many messages and AI drafts were created
-- or updated, each count stopping at 1,001. A change here with no dirty mark is a write path that forgot to
-- mark. Deleted rows, and writes that leave updatedAt as it was, leave no trace here.
SELECT (SELECT coalesce(json_agg(json_build_object('id', l.id, 'updatedAt', l."updatedAt") ORDER BY l."updatedAt" DESC),
                        '[]'::json)
        FROM (SELECT id, "updatedAt" FROM "Lead"
              WHERE "clientId" = :client_id AND "updatedAt" > :since
              ORDER BY "updatedAt" DESC LIMIT 10) l) AS leads,
       (SELECT count(*)::int FROM (SELECT 1 FROM "Lead" WHERE "clientId" = :client_id AND "updatedAt" > :since
                                   LIMIT 1001) x) AS leads_changed,
       (SELECT count(*)::int FROM (SELECT 1 FROM "Message" m JOIN "Lead" l ON l.id = m."leadId"
                                   WHERE l."clientId" = :client_id AND m."createdAt" > :since LIMIT 1001) x)
           AS messages_created,
       (SELECT count(*)::int FROM (SELECT 1 FROM "AIDraft" d JOIN "Lead" l ON l.id = d."leadId"
                                   WHERE l."clientId" = :client_id AND d."updatedAt" > :since LIMIT 1001) x)
           AS drafts_changed;
