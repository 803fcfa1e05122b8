-- The canary's writes: the app's own dirty mark, nothing else (a recompute of an unchanged workspace changes
-- nothing but the mark).

-- name: mark_dirty
-- docs/design.md §1's upsert, with the database's clock; returns the mark's time (UTC wall clock).
INSERT INTO "InboxCountsDirty" ("clientId", "dirtyAt")
VALUES (:client_id, now() AT TIME ZONE 'UTC')
ON CONFLICT ("clientId") DO UPDATE SET "dirtyAt" = excluded."dirtyAt"
RETURNING "dirtyAt" AS dirty_at;

-- name: markers
-- The dirty marks still pending among these workspaces, and the database's clock now.
SELECT d."clientId" AS client_id, d."dirtyAt" AS dirty_at, now() AT TIME ZONE 'UTC' AS now
FROM unnest(CAST(:client_ids AS text[])) AS c(id)
LEFT JOIN "InboxCountsDirty" d ON d."clientId" = c.id;

-- name: existing_client_ids
-- Which of the named workspaces exist (a mark for a missing one would break the app's foreign key).
SELECT id AS client_id FROM "Client" WHERE id = ANY(CAST(:client_ids AS text[]));

-- name: sample_client_ids
-- A random sample of the workspaces whose ids keep recount's clientId rule (the app's table may hold others).
SELECT id AS client_id FROM "Client"
WHERE length(id) BETWEEN 1 AND CAST(:max_length AS integer) AND id !~ CAST(:outside AS text)
ORDER BY random() LIMIT :sample_size;
