-- recount: optional
-- Removes what 004_dirty_triggers.sql created (`recount migrate --drop-triggers`); the marks and lead changes
-- already recorded stay (the jobs and the sweep still consume them), and recount's tables (005) stay.

DROP TRIGGER IF EXISTS recount_lead_inserted ON "Lead";
DROP TRIGGER IF EXISTS recount_lead_updated ON "Lead";
DROP TRIGGER IF EXISTS recount_lead_deleted ON "Lead";
DROP TRIGGER IF EXISTS recount_message_inserted ON "Message";
DROP TRIGGER IF EXISTS recount_message_updated ON "Message";
DROP TRIGGER IF EXISTS recount_message_deleted ON "Message";
DROP TRIGGER IF EXISTS recount_draft_inserted ON "AIDraft";
DROP TRIGGER IF EXISTS recount_draft_updated ON "AIDraft";
DROP TRIGGER IF EXISTS recount_draft_deleted ON "AIDraft";
DROP TRIGGER IF EXISTS recount_lead_truncated ON "Lead";
DROP TRIGGER IF EXISTS recount_message_truncated ON "Message";
DROP TRIGGER IF EXISTS recount_draft_truncated ON "AIDraft";
DROP FUNCTION IF EXISTS recount_lead_changed();
DROP FUNCTION IF EXISTS recount_message_changed();
DROP FUNCTION IF EXISTS recount_draft_changed();
DROP FUNCTION IF EXISTS recount_truncated();
DROP FUNCTION IF EXISTS recount_mark_dirty(text[]);
DROP FUNCTION IF EXISTS recount_record_leads(text[], text[]);
