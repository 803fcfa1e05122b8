-- Analytics daily aggregates of one workspace (docs/design.md §3). recount owns this table.

-- name: lock
-- Begin a recompute: the workspace's lock for this job, released at commit or rollback.
SELECT pg_try_advisory_xact_lock(:lock_class, hashtext(:client_id)) AS locked,
       NULL::text AS generation,
       NULL::timestamp AS dirty_at,
       NULL::timestamp AS change_stamp;

-- name: recompute
-- One statement, one snapshot: rewrite the last :window_days UTC days (today included), one row per
-- day even when every count is zero. computedAt moves only on rows whose counts changed, so the
-- newest computedAt of the window is the change stamp the version bump is idempotent on.
WITH params AS (
    SELECT CAST(:client_id AS text) AS client_id,
           coalesce(CAST(:today AS date), (statement_timestamp() AT TIME ZONE 'UTC')::date) AS today,
           CAST(:window_days AS integer) AS window_days,
           date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC') AS clock
),
bounds AS (
    SELECT p.client_id, p.today - (p.window_days - 1) AS first_day, p.today AS last_day,
           (p.today - (p.window_days - 1))::timestamp AS from_ts, (p.today + 1)::timestamp AS to_ts, p.clock
    FROM params p
),
workspace AS (
    SELECT EXISTS (SELECT 1 FROM "Client" c, params p WHERE c.id = p.client_id) AS present
),
days AS (
    -- Dates plus whole days: no timestamptz in between, so the session's time zone (a DST change at midnight
    -- shifts a timestamptz series to 01:00 and drops its last day) cannot touch the window.
    SELECT b.first_day + g.n AS day
    FROM bounds b, workspace w, generate_series(0, b.last_day - b.first_day) AS g(n)
    WHERE w.present
),
leads AS (
    SELECT l.id, l."createdAt" AS created_at, l."appointmentBookedAt" AS booked_at
    FROM "Lead" l, bounds b
    WHERE l."clientId" = b.client_id
),
created AS (
    SELECT l.created_at::date AS day, count(*)::int AS n
    FROM leads l, bounds b
    WHERE l.created_at >= b.from_ts AND l.created_at < b.to_ts
    GROUP BY 1
),
booked AS (
    SELECT l.booked_at::date AS day, count(*)::int AS n
    FROM leads l, bounds b
    WHERE l.booked_at >= b.from_ts AND l.booked_at < b.to_ts
    GROUP BY 1
),
messages AS (
    SELECT m."sentAt"::date AS day,
           count(*) FILTER (WHERE m.direction = 'inbound')::int AS inbound,
           count(*) FILTER (WHERE m.direction = 'outbound')::int AS outbound,
           count(DISTINCT m."leadId") FILTER (WHERE m.direction = 'inbound')::int AS responded,
           count(DISTINCT m."leadId") FILTER (WHERE m.direction = 'outbound')::int AS contacted,
           count(*) FILTER (WHERE m.direction = 'outbound' AND m."sentBy" = 'ai')::int AS ai_sent
    FROM "Message" m
    JOIN leads l ON l.id = m."leadId", bounds b
    WHERE m."sentAt" >= b.from_ts AND m."sentAt" < b.to_ts
    GROUP BY 1
),
fresh AS (
    SELECT d.day,
           coalesce(c.n, 0) AS leads_created,
           coalesce(m.inbound, 0) AS inbound_messages,
           coalesce(m.outbound, 0) AS outbound_messages,
           coalesce(m.responded, 0) AS responded_leads,
           coalesce(m.contacted, 0) AS contacted_leads,
           coalesce(k.n, 0) AS meetings_booked,
           coalesce(m.ai_sent, 0) AS ai_sent_messages
    FROM days d
    LEFT JOIN created c ON c.day = d.day
    LEFT JOIN booked k ON k.day = d.day
    LEFT JOIN messages m ON m.day = d.day
),
old AS (
    SELECT a.*
    FROM "AnalyticsDailyAggregates" a, bounds b
    WHERE a."clientId" = b.client_id AND a.day BETWEEN b.first_day AND b.last_day
),
changes AS (
    SELECT count(*) AS n
    FROM fresh f
    LEFT JOIN old o ON o.day = f.day
    WHERE o.day IS NULL
       OR (o."leadsCreated", o."inboundMessages", o."outboundMessages", o."respondedLeads",
           o."contactedLeads", o."meetingsBooked", o."aiSentMessages")
          IS DISTINCT FROM
          (f.leads_created, f.inbound_messages, f.outbound_messages, f.responded_leads,
           f.contacted_leads, f.meetings_booked, f.ai_sent_messages)
),
stamp AS (
    SELECT c.n > 0 AS changed,
           CASE WHEN c.n > 0
                THEN greatest(b.clock, (SELECT max(o."computedAt") + interval '1 millisecond' FROM old o))
                ELSE (SELECT max(o."computedAt") FROM old o)
           END AS change_stamp
    FROM changes c, bounds b
),
upserted AS (
    INSERT INTO "AnalyticsDailyAggregates" AS a (
        "clientId", day, "leadsCreated", "inboundMessages", "outboundMessages", "respondedLeads",
        "contactedLeads", "meetingsBooked", "aiSentMessages", "computedAt")
    SELECT b.client_id, f.day, f.leads_created, f.inbound_messages, f.outbound_messages, f.responded_leads,
           f.contacted_leads, f.meetings_booked, f.ai_sent_messages, s.change_stamp
    FROM fresh f, bounds b, stamp s
    ON CONFLICT ("clientId", day) DO UPDATE SET
        "leadsCreated" = excluded."leadsCreated",
        "inboundMessages" = excluded."inboundMessages",
        "outboundMessages" = excluded."outboundMessages",
        "respondedLeads" = excluded."respondedLeads",
        "contactedLeads" = excluded."contactedLeads",
        "meetingsBooked" = excluded."meetingsBooked",
        "aiSentMessages" = excluded."aiSentMessages",
        "computedAt" = excluded."computedAt"
    WHERE (a."leadsCreated", a."inboundMessages", a."outboundMessages", a."respondedLeads",
           a."contactedLeads", a."meetingsBooked", a."aiSentMessages")
          IS DISTINCT FROM
          (excluded."leadsCreated", excluded."inboundMessages", excluded."outboundMessages",
           excluded."respondedLeads", excluded."contactedLeads", excluded."meetingsBooked",
           excluded."aiSentMessages")
    RETURNING 1
)
SELECT w.present AS workspace_exists,
       (SELECT count(*) FROM fresh)::int AS rows_written,
       0 AS rows_deleted,
       s.changed,
       s.change_stamp,
       NULL::text AS generation,
       NULL::timestamp AS dirty_at,
       false AS marker_cleared,
       b.clock AS computed_at,
       (SELECT count(*) FROM upserted)::int AS rows_changed
FROM stamp s, bounds b, workspace w;

