/* Generated from docs/events.schema.json by json-schema-to-typescript (npm run types); do not edit. */

/**
 * One message body on a recount queue (docs/design.md section 5).
 */
export type RecountEventEnvelope =
  InboxCountsDirty | InboxCountsRecompute | AnalyticsAggregatesRecompute | InboxCountsSweep | AnalyticsAggregatesSweep;
export type Clientid = string;
/**
 * Set by the sweeper: the dirty marker generation this recompute serves. A recompute without it runs once per event id; with it, once per generation.
 */
export type Dirtygeneration = string | null;
export type Priority = "normal" | "high";
/**
 * Correlation id; defaults to the envelope id.
 */
export type Requestid = string | null;
/**
 * Who sent it: webhook, app, manual, sweep, backfill...
 */
export type Source = string;
export type Id = string;
export type Name = "inbox.counts.dirty";
export type Occurredat = string;
export type Version = 1;
export type Id1 = string;
export type Name1 = "inbox.counts.recompute";
export type Occurredat1 = string;
export type Version1 = 1;
export type Id2 = string;
export type Name2 = "analytics.aggregates.recompute";
export type Occurredat2 = string;
export type Version2 = 1;
export type Requestid1 = string | null;
export type Source1 = string;
export type Id3 = string;
export type Name3 = "inbox.counts.sweep";
export type Occurredat3 = string;
export type Version3 = 1;
export type Id4 = string;
export type Name4 = "analytics.aggregates.sweep";
export type Occurredat4 = string;
export type Version4 = 1;

/**
 * The app changed data the counts depend on: make sure a recompute follows (coalesced).
 */
export interface InboxCountsDirty {
  data: WorkspaceEventData;
  id: Id;
  name: Name;
  occurredAt: Occurredat;
  version?: Version;
}
/**
 * What a per-workspace event carries.
 */
export interface WorkspaceEventData {
  clientId: Clientid;
  dirtyGeneration?: Dirtygeneration;
  priority?: Priority;
  requestId?: Requestid;
  source?: Source;
}
/**
 * Recompute one workspace's inbox counts now.
 */
export interface InboxCountsRecompute {
  data: WorkspaceEventData;
  id: Id1;
  name: Name1;
  occurredAt: Occurredat1;
  version?: Version1;
}
/**
 * Recompute one workspace's analytics daily aggregates (when the path is enabled).
 */
export interface AnalyticsAggregatesRecompute {
  data: WorkspaceEventData;
  id: Id2;
  name: Name2;
  occurredAt: Occurredat2;
  version?: Version2;
}
/**
 * Schedules only: enqueue a recompute for every dirty or due workspace.
 */
export interface InboxCountsSweep {
  data?: SweepEventData;
  id: Id3;
  name: Name3;
  occurredAt: Occurredat3;
  version?: Version3;
}
/**
 * What a schedule's sweep event carries.
 */
export interface SweepEventData {
  requestId?: Requestid1;
  source?: Source1;
}
/**
 * Schedules only: enqueue a recompute for every workspace whose analytics reads missed their SLO.
 */
export interface AnalyticsAggregatesSweep {
  data?: SweepEventData1;
  id: Id4;
  name: Name4;
  occurredAt: Occurredat4;
  version?: Version4;
}
/**
 * What a schedule's sweep event carries.
 */
export interface SweepEventData1 {
  requestId?: Requestid1;
  source?: Source1;
}
