-- Lead-level change capture and per-lead state (docs/design.md §10): recount's own tables, created always (the
-- inbox job reads them whether or not the optional triggers of 004_dirty_triggers.sql fill them), empty until
-- `recount migrate --with-triggers`. `recount migrate --recount-only` applies this file.
--
-- recount's own tables: snake_case with the recount_ prefix, so the app's schema tools never take them for
-- theirs. A recorded change: the job deletes exactly the row version it read (compare-and-delete on xmin), so
-- a change recorded while it runs survives it.
CREATE TABLE IF NOT EXISTS recount_lead_change (
    client_id text NOT NULL,
    lead_id text NOT NULL,
    changed_at timestamp(3) NOT NULL,
    PRIMARY KEY (client_id, lead_id)
);

-- What each lead contributed when its workspace's counts were last computed: its trimmed setter, its snooze
-- end and a flag per count (docs/design.md §2); the workspace's rows are the sums over the leads whose snooze
-- had ended by then. No foreign key to "Lead": a deleted lead's row must stay until a job subtracts it.
CREATE TABLE IF NOT EXISTS recount_lead_state (
    client_id text NOT NULL REFERENCES "Client" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    lead_id text NOT NULL,
    setter text,
    snoozed_until timestamp(3),
    open boolean NOT NULL,
    needs_repair boolean NOT NULL,
    responded boolean NOT NULL,
    requires_attention boolean NOT NULL,
    previously_required_attention boolean NOT NULL,
    ai_review boolean NOT NULL,
    ai_sent boolean NOT NULL,
    PRIMARY KEY (client_id, lead_id)
);
-- Snoozes that end: the incremental job moves those leads in, by range, however large the workspace.
CREATE INDEX IF NOT EXISTS recount_lead_state_snoozed_idx
    ON recount_lead_state (client_id, snoozed_until) WHERE snoozed_until IS NOT NULL;

-- Whose state is whole, under which rules, as of which computation: the incremental job runs only when
-- `computed_at` is the global row's "computedAt" (any other computation since, by an older recount or with the
-- capture off, left the state behind) and `rules` is the job's; else the full recompute rebuilds it.
CREATE TABLE IF NOT EXISTS recount_state (
    client_id text PRIMARY KEY REFERENCES "Client" (id) ON DELETE CASCADE ON UPDATE CASCADE,
    rules integer NOT NULL,
    computed_at timestamp(3) NOT NULL
);

