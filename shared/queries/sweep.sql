-- The sweeper's queries: work proportional to the number of due workspaces, on indexes.

-- name: dirty_backlog
-- How many workspaces are dirty and since when, counting only ids that follow the clientId rule (bound:
-- 1 to max_length characters, none outside the allowed set);
-- the others (rows that predate the rule of recount) are counted apart, with the oldest 20 named.
SELECT count(*) FILTER (WHERE d.valid)::int AS backlog,
       min(d."dirtyAt") FILTER (WHERE d.valid) AS oldest_dirty_at,
       count(*) FILTER (WHERE NOT d.valid)::int AS invalid,
       (SELECT array_agg(x."clientId" ORDER BY x."dirtyAt", x."clientId")
        FROM (SELECT b."clientId", b."dirtyAt" FROM "InboxCountsDirty" b
              WHERE NOT (length(b."clientId") BETWEEN 1 AND CAST(:max_length AS integer)
                         AND b."clientId" !~ CAST(:outside AS text))
              ORDER BY b."dirtyAt", b."clientId" LIMIT 20) x) AS invalid_sample,
       date_trunc('milliseconds', statement_timestamp() AT TIME ZONE 'UTC') AS now,
       -- workspaces with lead changes recorded by the capture (docs/design.md §10) and no mark, and the oldest
       (SELECT count(DISTINCT ch.client_id)::int FROM recount_lead_change ch
        WHERE NOT EXISTS (SELECT 1 FROM "InboxCountsDirty" m WHERE m."clientId" = ch.client_id)) AS changed_only,
       (SELECT min(ch.changed_at) FROM recount_lead_change ch) AS oldest_change_at
FROM (SELECT "clientId", "dirtyAt",
             length("clientId") BETWEEN 1 AND CAST(:max_length AS integer) AND "clientId" !~ CAST(:outside AS text)
                 AS valid
      FROM "InboxCountsDirty") d;

-- name: dirty_page
-- One page of dirty markers, oldest first, after the keyset cursor (:after_at, :after_id); markers
-- younger than :min_age_s are left to the own dirty events of the app, and ids outside the clientId rule are
-- never paged (dirty_backlog names them), so they can take no room in a page.
SELECT d."clientId" AS client_id, d.xmin::text AS generation, d."dirtyAt" AS dirty_at
FROM "InboxCountsDirty" d
WHERE (d."dirtyAt", d."clientId") > (CAST(:after_at AS timestamp(3)), CAST(:after_id AS text))
  AND d."dirtyAt" <= (statement_timestamp() AT TIME ZONE 'UTC') - make_interval(secs => CAST(:min_age_s AS float8))
  AND length(d."clientId") BETWEEN 1 AND CAST(:max_length AS integer) AND d."clientId" !~ CAST(:outside AS text)
ORDER BY d."dirtyAt", d."clientId"
LIMIT :page_size;

-- name: lead_changes_page
-- One page of workspaces with lead changes recorded (docs/design.md §10), in id order after :after, whose oldest
-- change is at least :min_age_s old (younger ones are left to the app's own dirty events). The triggers record
-- only ids within the clientId rule.
SELECT ch.client_id, min(ch.changed_at) AS first_at
FROM recount_lead_change ch
WHERE ch.client_id > CAST(:after AS text)
GROUP BY ch.client_id
HAVING min(ch.changed_at) <= (statement_timestamp() AT TIME ZONE 'UTC') - make_interval(secs => CAST(:min_age_s AS float8))
ORDER BY ch.client_id
LIMIT :page_size;

-- name: audit_sample
-- Workspaces whose lead state is kept (docs/design.md §10), :n of them at random, for the audit's full recompute.
SELECT rs.client_id
FROM recount_state rs
ORDER BY random()
LIMIT :n;

-- name: snoozes_expired
-- Workspaces where a snooze ended after their last computation and by now: their counts changed with
-- the clock alone. A range scan of Lead_recount_snoozedUntil_idx over the lookback window.
SELECT l."clientId" AS client_id, max(g."computedAt") AS computed_at
FROM "Lead" l
JOIN "InboxCounts" g
  ON g."clientId" = l."clientId" AND g."isGlobal" AND g."scopeUserId" = '00000000-0000-0000-0000-000000000000'
WHERE l."snoozedUntil" IS NOT NULL
  AND l."snoozedUntil" > (statement_timestamp() AT TIME ZONE 'UTC') - make_interval(hours => CAST(:lookback_hours AS integer))
  AND l."snoozedUntil" <= statement_timestamp() AT TIME ZONE 'UTC'
  AND l."snoozedUntil" > g."computedAt"
  -- ids outside the clientId rule would take room under the LIMIT every sweep
  AND length(l."clientId") BETWEEN 1 AND CAST(:max_length AS integer) AND l."clientId" !~ CAST(:outside AS text)
GROUP BY l."clientId"
ORDER BY l."clientId"
LIMIT :max_workspaces;

-- name: inbox_stamps_page
-- The inbox change stamps (the global row's updatedAt) of the next workspaces after :after, in id order, for the
-- check of their published versions: a range of the unique index on ("clientId", "isGlobal", "scopeUserId").
SELECT g."clientId" AS client_id, g."updatedAt" AS change_stamp
FROM "InboxCounts" g
WHERE g."clientId" > CAST(:after AS text)
  AND g."isGlobal" AND g."scopeUserId" = '00000000-0000-0000-0000-000000000000'
  AND length(g."clientId") BETWEEN 1 AND CAST(:max_length AS integer) AND g."clientId" !~ CAST(:outside AS text)
ORDER BY g."clientId"
LIMIT :page_size;

-- name: analytics_stamps_page
-- The analytics change stamps (the newest computedAt of the window, as the recompute reads it) of the next
-- workspaces after :after, in id order: groups read in primary-key order, no further than the page.
SELECT a."clientId" AS client_id, max(a."computedAt") AS change_stamp
FROM "AnalyticsDailyAggregates" a
WHERE a."clientId" > CAST(:after AS text)
  AND a.day >= (statement_timestamp() AT TIME ZONE 'UTC')::date - (CAST(:window_days AS integer) - 1)
  AND length(a."clientId") BETWEEN 1 AND CAST(:max_length AS integer) AND a."clientId" !~ CAST(:outside AS text)
GROUP BY a."clientId"
ORDER BY a."clientId"
LIMIT :page_size;
