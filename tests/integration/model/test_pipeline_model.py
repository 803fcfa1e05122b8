"""docs/design.md §6 as a state machine: the real inbox handler, real PostgreSQL and Redis, moto's SQS and DynamoDB.

Three workspaces with a few leads each. Hypothesis interleaves:

* app writes (a lead changed, inserted or deleted, drafts and AI messages, in one transaction with the app's dirty
  upsert, the SQL of tests.builders.Workspace.mark_dirty), with or without the app's dirty event afterwards;
* dirty and recompute events, deliveries of the next batch, duplicate deliveries (a batch already handled is
  invoked again), reordered deliveries (a later batch before an earlier one), sweeps;
* crashes at each step of a job (see the rules `crash_*`), two workers on one workspace (each planning its own
  event, as the function plans one), a write landing while the recompute statement runs (its mark survives), and
  a snooze that expires with no write and no mark.

test_capture_model.py runs this machine over a database migrated with the triggers, where the app only writes and
the database records what changed; the hooks `_mark` and `capture` are where the two differ.

After every invocation, and after every step, the observed state must satisfy:

* **no lost update, step by step**: a workspace without a dirty mark has materialized rows equal to a fresh
  computation (tests/oracle.py) as of their own `computedAt`;
* **no stale overwrite**: the change stamp (the global row's `updatedAt`), `computedAt` and the status blob's
  version never go back. (Every interleaving the machine makes is serialized by the workspace's advisory lock;
  the `two_workers` rule checks that the lock is there: a second worker gets busy, not a second recompute.)
* **bumps follow effective changes**: the stamp moves exactly when the rows change; the version never goes back,
  is always the version of a committed stamp (shared.contracts.keys.version_for_stamp: never an INCR's value,
  never beyond the latest stamp), stays put when nothing changed and nothing was owed, and is the latest stamp's
  when a change was committed by a job whose publish was not cut;
* **no double apply**: a duplicate delivery to a workspace that is clean, owes no bump and whose rows are fresh
  (and stay fresh for the next two seconds of snoozes) moves neither the stamp nor the version. (That it does
  not even recompute is checked in test_redelivery.py, where a coalesced record is the exception.)

At the end of every example the pipeline is drained (stores up; deliveries, with backoffs fast-forwarded and busy
copies' delays waited out, until nothing is visible, in flight or delayed; then the one-second snooze, if any, is
let expire; then the sweep and deliveries again until the sweep finds nothing) and then: rows equal a fresh
computation now (the oracle, and recount.commands.verify.verify_workspace), no dirty mark, the version is the one
the latest stamp stands for (a publish cut after its commit is folded into it), the status blob is final and
carries that version, and every
queue, dead-letter queue included, is empty.

Crash points: inside the transaction (the backend terminated while the recompute statement waits on a row lock;
and Redis down for the whole job, which fails when the lock is held and the running status cannot be written);
after the commit before the version bump (Redis cut while the statement waits, so the commit succeeds and the
publish fails); after the bump. "After the bump, before the status" cannot be injected: the bump and the final
status blob are one Lua script (shared/adapters/redis_scripts.PUBLISH_LUA), which Redis runs atomically, so no
instant lies between them. The nearest point, injected instead, is right after both: the idempotency record is
never completed and the message is not deleted (the idempotency table is taken away while the statement waits, and
restored with the in-progress record the invocation wrote, as a Lambda that died there leaves it).
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from recount.commands.verify import Verdict, verify_workspace
from recount.local.event_source import LocalContext
from recount.servers.toggle_proxy import ToggleProxy
from shared.contracts.events import (
    EventName,
    InboxCountsDirty,
    InboxCountsRecompute,
    Priority,
    new_event,
    parse_envelope,
    to_body,
)
from shared.contracts.keys import VERSION_ROOM, JobName, applied_stamp_key, version_for_stamp
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.jobs import plan_inbox_counts
from shared.domain.passes import STATE_RULES, Pass
from shared.domain.recompute import Recompute
from shared.domain.sweep import sweep_inbox
from shared.queries import query
from tests.builders import Workspace
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import (
    Rig,
    backend_pid,
    drop_table,
    invoke_blocked,
    lock_counts_or_marker,
    restore_table,
    table_items,
)
from tests.oracle import inbox_counts

N_WORKSPACES = 3
TIMES = [datetime(2026, 1, 1, hour) for hour in (1, 2, 3)]
STATUSES = ["new", "qualified", "needs_repair", "blacklisted", "unqualified"]
TAGS = [None, "Positive", "Interested", "Meeting Booked", "Not Interested"]
# "" and " \t" are no setter; the last one trims to setter-1 (padded and blank setters, as JavaScript trims)
SETTERS = [None, "", " \t", "setter-1", "setter-2", "  setter-1\u00a0"]
SNOOZES = [None, datetime(2020, 1, 1), datetime(2100, 1, 1)]  # never snoozed, expired long ago, for decades
TARGETED_TIMEOUT_S = 6.0  # the deadline of a targeted invocation (LocalContext counts it down for real)
DRAIN_TIMEOUT_S = 30.0

lead_columns = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "sentimentTag": st.sampled_from(TAGS),
        "lastInboundAt": st.sampled_from([None, *TIMES]),
        "lastOutboundAt": st.sampled_from([None, *TIMES]),
        "lastZrgOutboundAt": st.sampled_from([None, *TIMES]),
        "assignedToUserId": st.sampled_from(SETTERS),
        "snoozedUntil": st.sampled_from(SNOOZES),
    }
)
changes = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("sentimentTag"), st.sampled_from(TAGS)),
    st.tuples(st.just("lastInboundAt"), st.sampled_from([None, *TIMES])),
    st.tuples(st.just("lastOutboundAt"), st.sampled_from([None, *TIMES])),
    st.tuples(st.just("lastZrgOutboundAt"), st.sampled_from([None, *TIMES])),
    st.tuples(st.just("assignedToUserId"), st.sampled_from(SETTERS)),
    st.tuples(st.just("snoozedUntil"), st.sampled_from(SNOOZES)),
    st.tuples(st.just("insert"), lead_columns),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("review_draft"), st.none()),
    st.tuples(st.just("resolve_drafts"), st.none()),
    st.tuples(st.just("ai_sent"), st.none()),
)
workspaces = st.integers(0, N_WORKSPACES - 1)
lead_picks = st.integers(0, 7)
event_kinds = st.sampled_from(["dirty", "recompute"])
UPDATABLE = {
    "status",
    "sentimentTag",
    "lastInboundAt",
    "lastOutboundAt",
    "lastZrgOutboundAt",
    "assignedToUserId",
    "snoozedUntil",
}

Change = tuple[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def step(function: F) -> F:
    """Mark the machine broken when a step raises, so teardown does not bury the failure under a drain's."""

    @functools.wraps(function)
    def wrapper(self: PipelineModel, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(self, *args, **kwargs)
        except BaseException:
            self.broken = True
            raise

    return wrapper  # type: ignore[return-value]


def stamp_text(value: datetime | None) -> str | None:
    """As shared.domain.recompute writes it into recount's applied-stamp key."""
    return value.isoformat(timespec="milliseconds") if value is not None else None


def stamp_version(value: datetime | None) -> int:
    """The version a committed change stamp stands for (0: never computed)."""
    text = stamp_text(value)
    return version_for_stamp(text) if text is not None else 0


@dataclass
class Snapshot:
    rows: dict[str, dict[str, int]]
    stamp: datetime | None
    computed_at: datetime | None
    marker: str | None
    leads: list[dict[str, Any]]
    drafts: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    now: datetime
    version: int
    applied: str | None
    status: dict[str, Any] | None
    lead_changes: int  # recorded by the triggers and not yet consumed
    state_whole: bool  # recount_state stands for the counts (the incremental job may run)
    state_differing: int  # leads whose recorded contribution differs from a fresh one (none while not whole)

    def fresh(self, now: datetime) -> dict[str, dict[str, int]]:
        return inbox_counts(self.leads, self.drafts, self.messages, now)


@dataclass
class Track:
    """What has been observed of one workspace so far."""

    stamp: datetime | None = None
    computed_at: datetime | None = None
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    version: int = 0
    applied: str | None = None
    changes: int = 0  # distinct committed change stamps observed
    cut_publishes: int = 0  # commits whose publish was cut (their bump may be folded into a later one)
    status_version: int = 0

    @property
    def owed(self) -> bool:
        return self.applied != stamp_text(self.stamp)


class PipelineModel(RuleBasedStateMachine):
    rig: ClassVar[Rig]
    redis_proxy: ClassVar[ToggleProxy]
    capture: ClassVar[bool] = False  # the database records changed leads itself (test_capture_model.py)
    passes: ClassVar[Counter[str]]  # the inbox passes the function's jobs ran, over every example of a test

    def __init__(self) -> None:
        super().__init__()
        self.rig.reset()
        self.broken = False
        self.ids: list[str] = []
        self.leads: list[list[str]] = []
        self.tracks: dict[str, Track] = {}
        self.delivered: list[dict[str, Any]] = []  # copies of handled batches, for duplicate deliveries
        self.snooze_until: datetime | None = None
        self.soon_snoozes = 0
        self.settings = RecomputeSettings()

    # -- setup ------------------------------------------------------------------------------------------------
    @initialize(
        leads=st.lists(st.lists(lead_columns, min_size=0, max_size=3), min_size=N_WORKSPACES, max_size=N_WORKSPACES),
        send=st.lists(st.booleans(), min_size=N_WORKSPACES, max_size=N_WORKSPACES),
    )
    @step
    def create_workspaces(self, leads: list[list[dict[str, Any]]], send: list[bool]) -> None:
        for columns_of_leads, with_event in zip(leads, send, strict=True):
            workspace = Workspace.create(self.rig.app)
            self.ids.append(workspace.id)
            self.leads.append([workspace.lead(**columns) for columns in columns_of_leads])
            self.tracks[workspace.id] = Track()
            workspace.mark_dirty()
            if with_event:
                self.rig.aws.send("counts", dirty_body(workspace.id))

    # -- the app ----------------------------------------------------------------------------------------------
    @rule(
        writes=st.lists(
            st.tuples(workspaces, lead_picks, changes, st.sampled_from([True, True, True, False])),
            min_size=1,
            max_size=3,
        )
    )
    @step
    def app_writes(self, writes: list[tuple[int, int, Change, bool]]) -> None:
        """App writes, each a change and the app's dirty upsert in one transaction, then (usually) its dirty event."""
        self._app_writes(writes, together=False)

    def _app_writes(self, writes: list[tuple[int, int, Change, bool]], *, together: bool) -> None:
        """The writes, each in a transaction of its own or `together` in one, then the app's dirty events of those
        with `send` for the workspaces they wrote."""
        for group in [writes] if together else [[write] for write in writes]:
            self.rig.app.run("BEGIN")
            try:
                touched = [self._app_write(self.rig.app, ws, lead, change) for ws, lead, change, _ in group]
                self.rig.app.run("COMMIT")
            except BaseException:
                self.rig.app.rollback()
                raise
            for written, (*_, send) in zip(touched, group, strict=True):
                if send:
                    self._send_dirty(written)

    @precondition(lambda self: self.soon_snoozes == 0)
    @rule(ws=workspaces, lead=lead_picks)
    @step
    def snooze_for_a_second(self, ws: int, lead: int) -> None:
        """Snooze a lead until one second from now (the database's clock): the counts will change with the clock
        alone, with no write and no mark; only the sweep can find it."""
        if not self.leads[ws]:
            return
        lead_id = self.leads[ws][lead % len(self.leads[ws])]
        self.rig.app.run("BEGIN")
        until = self.rig.app.run(
            'UPDATE "Lead" SET "snoozedUntil" = date_trunc(\'milliseconds\', statement_timestamp() AT TIME ZONE '
            "'UTC') + interval '1 second', \"updatedAt\" = now() WHERE id = :id RETURNING \"snoozedUntil\" AS until",
            id=lead_id,
        )[0]["until"]
        self._mark(self.rig.app, ws)
        self.rig.app.run("COMMIT")
        self.rig.aws.send("counts", dirty_body(self.ids[ws]))
        self.soon_snoozes += 1
        self.snooze_until = max(self.snooze_until or until, until)

    @precondition(lambda self: self.snooze_until is not None)
    @rule()
    @step
    def let_the_snooze_expire(self) -> None:
        self._wait_for_snoozes()

    # -- events and deliveries --------------------------------------------------------------------------------
    @rule(ws=workspaces, kind=event_kinds, copies=st.integers(1, 3))
    @step
    def send_event(self, ws: int, kind: str, copies: int) -> None:
        """Dirty events (the app, operators) or recompute events (operators, backfills), possibly a burst."""
        for _ in range(copies):
            self.rig.aws.send("counts", self._body(ws, kind, Priority.NORMAL))

    @rule(queue=st.sampled_from(["counts", "counts", "counts_high"]), size=st.integers(1, 10))
    @step
    def deliver(self, queue: str, size: int) -> None:
        event = self.rig.aws.receive_event(queue, size)
        if event["Records"]:
            self._finish(event, queue, self.rig.function.invoke(event))

    @rule(first=st.integers(1, 5), second=st.integers(1, 5))
    @step
    def deliver_reordered(self, first: int, second: int) -> None:
        """Two batches received in order and invoked the other way round."""
        earlier = self.rig.aws.receive_event("counts", first)
        later = self.rig.aws.receive_event("counts", second)
        for event in (later, earlier):
            if event["Records"]:
                self._finish(event, "counts", self.rig.function.invoke(event))

    @precondition(lambda self: bool(self.delivered))
    @rule(pick=st.integers(0, 63))
    @step
    def deliver_again(self, pick: int) -> None:
        """A batch already handled is delivered again (SQS is at least once; nothing is deleted afterwards). For
        every workspace it names that was settled before (no mark, no bump owed, rows fresh now and for the next
        two seconds of snoozes), the stamp and the version must not move: no double apply."""
        event = copy.deepcopy(self.delivered[pick % len(self.delivered)])
        client_ids = {self._client_id_of(record["body"]) for record in event["Records"]}
        settled = {}
        for client_id in client_ids:
            snap = self._snapshot(client_id)
            track = self.tracks[client_id]
            settled[client_id] = (
                snap.marker is None
                and not snap.lead_changes
                and not track.owed
                and snap.rows == snap.fresh(snap.now)
                and snap.rows == snap.fresh(snap.now + timedelta(seconds=2))
            )
        before = {client_id: (self.tracks[client_id].stamp, self.tracks[client_id].version) for client_id in client_ids}
        self.rig.function.invoke(event)
        self._observe()
        for client_id in client_ids:
            if settled[client_id]:
                track = self.tracks[client_id]
                assert (track.stamp, track.version) == before[client_id], (
                    f"a duplicate delivery re-applied work already done for {client_id}"
                )

    @rule(then_deliver=st.booleans())
    @step
    def sweep(self, then_deliver: bool) -> None:
        """The schedule's sweep: one recompute per dirty workspace and per workspace whose snooze expired; then,
        perhaps, one batch delivered. (Hypothesis favours rules with fewer arguments: this one has one, so that the
        most frequent rule is not a sweep.)"""
        sweep_inbox(self.rig.sweeper, "model-sweep")
        if then_deliver:
            self.deliver("counts", 10)

    # -- crashes at each step of a job ------------------------------------------------------------------------
    @rule(ws=workspaces, kind=event_kinds)
    @step
    def crash_with_redis_down(self, ws: int, kind: str) -> None:
        """Redis is down for the whole job: begin() takes the lock, cannot write the running status, rolls back."""
        event = self._targeted(ws, kind)
        self.redis_proxy.down()
        try:
            response = self.rig.function.invoke(event, self._context())
        finally:
            self.redis_proxy.up()
        assert self._failed(response) == self._ids_of(event), "the job must fail while Redis is down"
        self._finish(event, "counts_high", response)

    @rule(ws=workspaces, kind=event_kinds)
    @step
    def crash_inside_the_transaction(self, ws: int, kind: str) -> None:
        """The backend is terminated while the recompute statement waits on a row lock: nothing is committed."""
        client_id = self.ids[ws]
        event = self._targeted(ws, kind, computing=True)
        before = self._snapshot(client_id)
        pid = backend_pid(self.rig.function)
        lock_counts_or_marker(self.rig, client_id)
        response = invoke_blocked(
            self.rig,
            event,
            self._context(),
            pid=pid,
            act=lambda: self.rig.observer.run("SELECT pg_terminate_backend(:pid)", pid=pid),
        )
        assert self._failed(response) == self._ids_of(event), "a job whose backend died must fail"
        after = self._snapshot(client_id)
        assert (after.computed_at, after.marker) == (before.computed_at, before.marker), "a killed job committed"
        self._finish(event, "counts_high", response)

    @rule(ws=workspaces, kind=event_kinds)
    @step
    def crash_after_commit_before_the_bump(self, ws: int, kind: str) -> None:
        """Redis is cut while the statement waits: the statement commits, the publish (bump + status) fails."""
        client_id = self.ids[ws]
        event = self._targeted(ws, kind, computing=True)
        before = self._snapshot(client_id)
        pid = backend_pid(self.rig.function)
        lock_counts_or_marker(self.rig, client_id)
        try:
            response = invoke_blocked(self.rig, event, self._context(), pid=pid, act=self.redis_proxy.down)
        finally:
            self.redis_proxy.up()
        assert self._failed(response) == self._ids_of(event), "a job whose publish failed must be retried"
        after = self._snapshot(client_id)
        assert after.computed_at is not None and after.computed_at != before.computed_at, "the commit did not happen"
        assert after.version == before.version, "the bump happened although Redis was down"
        self.tracks[client_id].cut_publishes += 1
        self._finish(event, "counts_high", response, faulty={client_id})

    @rule(ws=workspaces, kind=event_kinds)
    @step
    def crash_after_the_bump(self, ws: int, kind: str) -> None:
        """After the commit, the bump and the final status, the invocation dies before its idempotency record is
        completed and before its message is deleted (see the module docstring for why not between bump and
        status). The idempotency table is taken away while the statement waits, so completing the record fails;
        it comes back with the records it had, including the in-progress one this invocation wrote, whose expiry
        is the invocation's deadline."""
        client_id = self.ids[ws]
        event = self._targeted(ws, kind, computing=True)
        before = self._snapshot(client_id)
        pid = backend_pid(self.rig.function)
        lock_counts_or_marker(self.rig, client_id)
        items: list[dict[str, Any]] = []
        try:
            response = invoke_blocked(
                self.rig, event, self._context(), pid=pid, act=lambda: items.extend(drop_table(self.rig.aws))
            )
        finally:
            restore_table(self.rig.aws, items)
        assert self._failed(response) == self._ids_of(event), "a job whose idempotency record failed must be retried"
        after = self._snapshot(client_id)
        assert after.computed_at != before.computed_at, "the commit did not happen"
        assert after.applied == stamp_text(after.stamp), "the bump did not happen"
        assert any(item["status"]["S"] == "INPROGRESS" for item in items), "no in-progress record was written"
        self._finish(event, "counts_high", response)

    # -- concurrency ------------------------------------------------------------------------------------------
    @rule(ws=workspaces, kind=event_kinds, other_kind=event_kinds, other_commits=st.booleans())
    @step
    def two_workers(self, ws: int, kind: str, other_kind: str, other_commits: bool) -> None:
        self._two_workers(ws, kind, other_kind, other_commits)

    def _two_workers(
        self, ws: int, kind: str, other_kind: str, other_commits: bool, write: tuple[int, Change] | None = None
    ) -> None:
        """Another worker holds the workspace's recompute (its lease on another connection, planned for its own
        event as the function plans one) while the function gets an event for it: busy, so a delayed copy and no
        failure. With `write`, the app writes between the other worker's lock query and its statement. Then the
        other worker carries out its plan or gives up."""
        client_id = self.ids[ws]
        other = Recompute(JobName.INBOX_COUNTS, self.rig.holder, self.rig.cache, self.settings)
        lease = other.begin(client_id, JobContext("other-worker", "model"))
        try:
            plan = plan_inbox_counts(self._event(ws, other_kind), lease)
            lease.how = plan.how
            event = self._targeted(ws, kind)
            sent_before = len(self.rig.function.sqs.log)
            response = self.rig.function.invoke(event, self._context())
            assert self._failed(response) == set(), "busy must not be a failure"
            resent = [
                kwargs
                for operation, kwargs in self.rig.function.sqs.log[sent_before:]
                if operation == "send_message" and kwargs["MessageBody"] == event["Records"][0]["body"]
            ]
            assert len(resent) == 1 and resent[0]["DelaySeconds"] >= 1, "busy must re-send one delayed copy"
            self._finish(event, "counts_high", response)
            if write is not None:
                self._app_writes([(ws, *write, True)], together=False)
            if other_commits and plan.key is not None:
                other.finish(lease)
        finally:
            other.abandon(lease)
        self._observe()

    @rule(ws=workspaces, lead=lead_picks, change=changes)
    @step
    def app_write_during_the_recompute(self, ws: int, lead: int, change: Change) -> None:
        self._write_during_the_recompute(ws, lead, change, "recompute")

    def _write_during_the_recompute(self, ws: int, lead: int, change: Change, kind: str) -> None:
        """The app writes while the recompute statement runs (after its snapshot): what the write recorded (its
        mark, or the lead changes the triggers recorded) survives the recompute."""
        client_id = self.ids[ws]
        event = self._targeted(ws, kind, computing=True)
        pid = backend_pid(self.rig.function)
        lock_counts_or_marker(self.rig, client_id)  # the app's transaction, holding what the statement needs
        try:
            touched = self._app_write(self.rig.holder, ws, lead, change)
            xid = self.rig.holder.run("SELECT pg_current_xact_id()::xid::text AS xid")[0]["xid"]
            recorded = self._recorded_by(self.rig.holder, xid)
        except BaseException:
            self.rig.holder.rollback()
            raise
        response = invoke_blocked(self.rig, event, self._context(), pid=pid, act=lambda: None, release="COMMIT")
        assert self._failed(response) == set()
        self._finish(event, "counts_high", response)
        assert self._recorded_by(self.rig.observer, xid) == recorded, (
            "a mark or a lead change recorded during the recompute was cleared"
        )
        self._send_dirty(touched)  # the app's event, after its commit

    # -- invariants -------------------------------------------------------------------------------------------
    @invariant()
    @step
    def observed_state_is_consistent(self) -> None:
        if self.ids:
            self._observe()

    def teardown(self) -> None:
        self.redis_proxy.up()
        restore_table(self.rig.aws, [])
        self.rig.holder.rollback()
        if self.broken or not self.ids:
            return
        self._drain()
        self._check_final_state()
        self._count_passes()

    # -- helpers ----------------------------------------------------------------------------------------------
    def _app_write(self, db: Any, ws: int, lead: int, change: Change) -> set[int]:
        """One app change on `db` and the app's marks (inside the caller's transaction); the workspaces it wrote."""
        touched = self._apply(db, ws, lead, change)
        for written in sorted(touched):
            self._mark(db, written)
        return touched

    def _mark(self, db: Any, ws: int) -> None:
        """The app's dirty upsert (tests.builders.Workspace.mark_dirty)."""
        Workspace(db, self.ids[ws]).mark_dirty()

    def _send_dirty(self, touched: set[int]) -> None:
        """The app's dirty events, after its commit: one per workspace it wrote."""
        for ws in sorted(touched):
            self.rig.aws.send("counts", dirty_body(self.ids[ws]))

    @staticmethod
    def _recorded_by(db: Any, xid: str) -> set[tuple[str, str | None]]:
        """The marks and the lead changes that transaction `xid` wrote and that are still there."""
        rows = db.run(
            'SELECT "clientId" AS client_id, NULL AS lead_id FROM "InboxCountsDirty" WHERE xmin = CAST(:xid AS xid) '
            "UNION ALL SELECT client_id, lead_id FROM recount_lead_change WHERE xmin = CAST(:xid AS xid)",
            xid=xid,
        )
        return {(row["client_id"], row["lead_id"]) for row in rows}

    def _apply(self, db: Any, ws: int, lead: int, change: Change) -> set[int]:
        """One app change on `db` (inside the caller's transaction), in plain SQL; the workspaces it wrote."""
        kind, value = change
        workspace = Workspace(db, self.ids[ws])
        if not self.leads[ws] and kind != "insert":
            kind, value = "insert", {}
        if kind == "insert":
            self.leads[ws].append(workspace.lead(**value))
            return {ws}
        lead_id = self.leads[ws][lead % len(self.leads[ws])]
        if kind in UPDATABLE:
            db.run(f'UPDATE "Lead" SET "{kind}" = :value, "updatedAt" = now() WHERE id = :id', value=value, id=lead_id)
        elif kind == "delete":
            db.run('DELETE FROM "Lead" WHERE id = :id', id=lead_id)
            self.leads[ws].remove(lead_id)
        elif kind == "move":  # the lead, with its drafts and messages, to another workspace
            to = value if value != ws else (ws + 1) % N_WORKSPACES
            db.run(
                'UPDATE "Lead" SET "clientId" = :to, "updatedAt" = now() WHERE id = :id', to=self.ids[to], id=lead_id
            )
            self.leads[ws].remove(lead_id)
            self.leads[to].append(lead_id)
            return {ws, to}
        else:
            return self._apply_to_drafts_and_messages(db, workspace, ws, lead_id, change)
        return {ws}

    def _apply_to_drafts_and_messages(
        self, db: Any, workspace: Workspace, ws: int, lead_id: str, change: Change
    ) -> set[int]:
        """`_apply`'s changes to a lead's drafts and AI-sent emails; the workspaces it wrote."""
        kind, value = change
        if kind == "review_draft":
            workspace.draft(lead_id)
        elif kind == "resolve_drafts":
            db.run('UPDATE "AIDraft" SET status = \'approved\', "updatedAt" = now() WHERE "leadId" = :id', id=lead_id)
        elif kind == "ai_sent":
            draft_id = workspace.draft(lead_id, status="approved", auto_send_action="send_immediate")
            workspace.message(lead_id, ai_draft_id=draft_id, sent_at=TIMES[0])
        elif kind == "delete_drafts":  # the messages sent from them keep their lead, their aiDraftId goes null
            db.run('DELETE FROM "AIDraft" WHERE "leadId" = :id', id=lead_id)
        elif kind == "delete_ai_sent":
            db.run('DELETE FROM "Message" WHERE "leadId" = :id AND "sentBy" = \'ai\'', id=lead_id)
        elif kind in ("move_drafts", "move_ai_sent"):  # to a lead of any workspace
            to_ws, to_lead = value
            if not self.leads[to_ws]:
                return {ws}
            to_id = self.leads[to_ws][to_lead % len(self.leads[to_ws])]
            table = '"AIDraft"' if kind == "move_drafts" else '"Message"'
            db.run(f'UPDATE {table} SET "leadId" = :to WHERE "leadId" = :id', to=to_id, id=lead_id)
            return {ws, to_ws}
        else:  # pragma: no cover
            raise AssertionError(kind)
        return {ws}

    def _event(self, ws: int, kind: str) -> InboxCountsDirty | InboxCountsRecompute:
        event = parse_envelope(self._body(ws, kind, Priority.NORMAL))
        assert isinstance(event, InboxCountsDirty | InboxCountsRecompute)
        return event

    def _body(self, ws: int, kind: str, priority: Priority) -> str:
        if kind == "dirty":
            return dirty_body(self.ids[ws], priority)
        return to_body(
            new_event(EventName.INBOX_COUNTS_RECOMPUTE, client_id=self.ids[ws], source="manual", priority=priority)
        )

    def _context(self) -> LocalContext:
        return LocalContext("recount-model", timeout_s=TARGETED_TIMEOUT_S)

    def _targeted(self, ws: int, kind: str, *, computing: bool = False) -> dict[str, Any]:
        """Send one event to counts-high and return a batch holding just it, after delivering what counts-high
        hands out now (retries whose backoff ended, busy copies) as batches of their own. With `computing`, the
        event must reach the recompute statement: a dirty event for a workspace without a mark or a lead change
        would be skipped as clean before any statement, so a recompute event is sent instead."""
        client_id = self.ids[ws]
        for _ in range(10):
            while (pending := self.rig.aws.receive_event("counts_high"))["Records"]:
                self._finish(pending, "counts_high", self.rig.function.invoke(pending))
            if computing and (snap := self._snapshot(client_id)).marker is None and not snap.lead_changes:
                kind = "recompute"
            body = self._body(ws, kind, Priority.HIGH)
            self.rig.aws.send("counts_high", body)
            event = self.rig.aws.receive_event("counts_high", 10)
            if [record["body"] for record in event["Records"]] == [body]:
                return event
            # Something else became visible meanwhile: deliver it all as an ordinary batch and start again.
            self._finish(event, "counts_high", self.rig.function.invoke(event))
        raise AssertionError("could not isolate a targeted event on counts-high")

    @staticmethod
    def _failed(response: dict[str, Any]) -> set[str]:
        return {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}

    @staticmethod
    def _ids_of(event: dict[str, Any]) -> set[str]:
        return {record["messageId"] for record in event["Records"]}

    @staticmethod
    def _client_id_of(body: str) -> str:
        return str(json.loads(body)["data"]["clientId"])

    def _finish(
        self,
        event: dict[str, Any],
        queue: str,
        response: dict[str, Any],
        *,
        faulty: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """What Lambda's event source does after an invocation (delete the successes), then observe."""
        failed = self._failed(response)
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.rig.aws.sqs.delete_message(
                    QueueUrl=self.rig.aws.queues[queue].url, ReceiptHandle=record["receiptHandle"]
                )
        self.delivered = [*self.delivered[-29:], copy.deepcopy(event)]
        self._observe(faulty)

    def _snapshot(self, client_id: str) -> Snapshot:
        db = self.rig.observer
        db.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            rows = Workspace(db, client_id).counts()
            head = db.run(
                'SELECT "updatedAt" AS stamp, "computedAt" AS computed_at FROM "InboxCounts" '
                'WHERE "clientId" = :id AND "isGlobal"',
                id=client_id,
            )
            marker = db.run(
                'SELECT xmin::text AS generation FROM "InboxCountsDirty" WHERE "clientId" = :id', id=client_id
            )
            leads = db.run(
                'SELECT id, status, "sentimentTag", "lastInboundAt", "lastOutboundAt", '
                '"lastZrgOutboundAt", "snoozedUntil", "assignedToUserId" FROM "Lead" '
                'WHERE "clientId" = :id',
                id=client_id,
            )
            drafts = db.run(
                'SELECT d."leadId", d.status, d."autoSendAction" FROM "AIDraft" d '
                'JOIN "Lead" l ON l.id = d."leadId" WHERE l."clientId" = :id',
                id=client_id,
            )
            messages = db.run(
                'SELECT m."leadId", m.channel, m.direction, m.source, m."sentBy", m."aiDraftId", '
                'm."sentAt" FROM "Message" m JOIN "Lead" l ON l.id = m."leadId" '
                'WHERE l."clientId" = :id',
                id=client_id,
            )
            now = db.run("SELECT date_trunc('milliseconds', statement_timestamp() AT TIME ZONE 'UTC') AS now")[0]
            capture = db.run(
                "SELECT (SELECT count(*) FROM recount_lead_change WHERE client_id = :id)::int AS lead_changes, "
                'EXISTS (SELECT 1 FROM recount_state rs JOIN "InboxCounts" g ON g."clientId" = rs.client_id '
                'AND g."isGlobal" AND g."computedAt" = rs.computed_at '
                "WHERE rs.client_id = :id AND rs.rules = :rules) AS state_whole",
                id=client_id,
                rules=STATE_RULES,
            )[0]
            differing = (
                db.run(query("inbox_counts", "state_differences"), client_id=client_id, rules=STATE_RULES)[0]
                if self.capture
                else {"differing": 0}
            )
        finally:
            db.run("COMMIT")
        version, applied, status = self.rig.raw_redis.mget(
            f"inbox:v1:ver:{client_id}",
            applied_stamp_key(JobName.INBOX_COUNTS, client_id),
            f"job:v1:{client_id}:inbox_counts",
        )
        return Snapshot(
            rows=rows,
            stamp=head[0]["stamp"] if head else None,
            computed_at=head[0]["computed_at"] if head else None,
            marker=marker[0]["generation"] if marker else None,
            leads=leads,
            drafts=drafts,
            messages=messages,
            now=now["now"],
            version=int(version or 0),
            applied=cast(str | None, applied),  # raw_redis decodes responses
            status=json.loads(status) if status else None,
            lead_changes=capture["lead_changes"],
            state_whole=capture["state_whole"],
            state_differing=differing["differing"],
        )

    def _observe(self, faulty: set[str] | frozenset[str] = frozenset()) -> None:
        for client_id in self.ids:
            snap = self._snapshot(client_id)
            track = self.tracks[client_id]
            changed = snap.stamp != track.stamp
            if track.stamp is not None:
                assert snap.stamp is not None and snap.stamp >= track.stamp, (
                    f"stale overwrite: the change stamp of {client_id} went back"
                )
                assert snap.computed_at is not None and track.computed_at is not None
                assert snap.computed_at >= track.computed_at, (
                    f"stale overwrite: an older computation of {client_id} replaced a newer one"
                )
            assert (snap.rows != track.rows) == changed, (
                f"the change stamp of {client_id} must move exactly when its counts change"
            )
            assert snap.version >= track.version, f"the version of {client_id} went back"
            assert snap.version % VERSION_ROOM == 0, f"{client_id}: version {snap.version} is no stamp's"
            latest = stamp_version(snap.stamp)
            assert snap.version <= latest, f"{client_id}: a version beyond its latest committed change"
            if not changed and not track.owed:
                assert snap.version == track.version, f"{client_id}: the version moved with no effective change"
            if changed:
                track.changes += 1
                if client_id not in faulty:
                    assert snap.applied == stamp_text(snap.stamp) and snap.version == latest > track.version, (
                        f"{client_id}: an effective change was committed and its publish not cut, yet no bump"
                    )
            if snap.marker is None and not snap.lead_changes:
                if self.capture and snap.computed_at is None:
                    # a workspace whose leads the triggers never recorded: only the backfill computes it
                    assert not snap.leads, f"{client_id} has leads no change was recorded for"
                else:
                    assert snap.rows, f"{client_id} is clean but was never computed"
                    assert snap.computed_at is not None
                    assert snap.rows == snap.fresh(snap.computed_at), (
                        f"lost update: {client_id} has no dirty mark or lead change but its counts are not those "
                        "of its data"
                    )
            if snap.marker is None:
                # every lead without a recorded change contributes what the state says (a mark: a TRUNCATE, which
                # records no lead, leaves the state to the full pass it forces)
                assert snap.state_differing == 0, f"{client_id}: {snap.state_differing} leads drifted from the state"
            if snap.status is not None and snap.status.get("version") is not None:
                assert snap.status["version"] >= track.status_version, f"{client_id}: a status blob went back"
                track.status_version = snap.status["version"]
            track.stamp, track.computed_at, track.rows = snap.stamp, snap.computed_at, snap.rows
            track.version, track.applied = snap.version, snap.applied

    def _wait_for_snoozes(self) -> None:
        if self.snooze_until is None:
            return
        deadline = time.monotonic() + 5
        while not self.rig.observer.run(
            "SELECT statement_timestamp() AT TIME ZONE 'UTC' > :until AS passed", until=self.snooze_until
        )[0]["passed"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        self.snooze_until = None

    def _drain(self) -> None:
        """Deliver until nothing is visible, in flight or delayed; only then let the snoozes expire (so their
        workspaces were last computed before the expiry and only the sweep can find them); then sweep and deliver
        again until the sweep finds nothing to do."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        self._deliver_everything(deadline)
        self._wait_for_snoozes()
        while True:
            report = sweep_inbox(self.rig.sweeper, "model-drain")
            if report.enqueued == 0:
                return
            self._deliver_everything(deadline)

    def _deliver_everything(self, deadline: float) -> None:
        aws = self.rig.aws
        while True:
            assert time.monotonic() < deadline, "the pipeline did not drain"
            delivered = False
            for queue in ("counts", "counts_high"):
                aws.make_visible(queue)  # fast-forward every backoff
                while (event := aws.receive_event(queue))["Records"]:
                    self._finish(event, queue, self.rig.function.invoke(event))
                    delivered = True
            if delivered:
                continue
            if not any(
                aws.delayed(aws.queues[queue].url) or aws.depth(aws.queues[queue].url) != (0, 0)
                for queue in ("counts", "counts_high")
            ):
                return
            time.sleep(0.1)  # busy copies wait out their SQS delay

    def _count_passes(self) -> None:
        """The passes the function ran in this example, as its idempotency records keep its outcomes."""
        for item in table_items(self.rig.aws):
            if "data" in item:
                self.passes[json.loads(item["data"]["S"])["pass"]] += 1

    def _check_final_state(self) -> None:
        aws = self.rig.aws
        for queue in aws.queues.values():
            assert aws.depth(queue.url) == (0, 0) and aws.delayed(queue.url) == 0, f"{queue.name} is not empty"
            assert aws.depth(queue.dlq_url) == (0, 0), f"a valid message reached {queue.name}'s dead-letter queue"
        for client_id in self.ids:
            snap = self._snapshot(client_id)
            track = self.tracks[client_id]
            assert snap.marker is None, f"a dirty mark of {client_id} was left"
            assert not snap.lead_changes, f"{snap.lead_changes} lead changes of {client_id} were left"
            assert snap.rows == snap.fresh(snap.now), f"{client_id} is not fresh after draining"
            if self.capture:
                assert snap.state_whole, f"{client_id}: the lead state does not stand for the counts"
                assert snap.state_differing == 0, f"{client_id}: {snap.state_differing} leads drifted from the state"
            verdict = verify_workspace(self.rig.observer, client_id)
            assert verdict.verdict is Verdict.OK, f"{client_id}: {verdict}"
            assert snap.applied == stamp_text(snap.stamp), f"{client_id}: the last change was never published"
            # Owed bumps (publishes cut after their commit) fold into the latest: the version its stamp stands for
            assert snap.stamp is not None and snap.version == stamp_version(snap.stamp), (
                f"{client_id}: version {snap.version} for {track.changes} changes, {track.cut_publishes} cut publishes"
            )
            assert snap.status is not None and snap.status["status"] in ("succeeded", "skipped"), (
                f"{client_id}: final status {snap.status}"
            )
            assert snap.status.get("version") == snap.version, f"{client_id}: the status blob's version is stale"


MODEL_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_the_pipeline_keeps_the_invariants_of_design_section_6(model_rig: Rig) -> None:
    assert model_rig.redis_proxy is not None
    PipelineModel.rig, PipelineModel.redis_proxy = model_rig, model_rig.redis_proxy
    PipelineModel.passes = Counter()
    try:
        run_state_machine_as_test(PipelineModel, settings=MODEL_SETTINGS)
    finally:
        del PipelineModel.rig, PipelineModel.redis_proxy
    # the app marks every write: the full pass serves it all
    assert set(PipelineModel.passes) == {Pass.FULL.value}, PipelineModel.passes
