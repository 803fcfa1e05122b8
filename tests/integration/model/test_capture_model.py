"""The model of test_pipeline_model.py with the database recording what changed (docs/design.md §10).

The database is migrated with the triggers (`migrate(db, triggers=True)`), and the app writes in plain SQL and
never marks: the statement-level triggers record each changed lead in recount_lead_change (a TRUNCATE, which has
no rows, marks every workspace), and the inbox job applies those leads alone against what each contributed last
(recount_lead_state) while that state stands for the counts, the full pass otherwise. Hypothesis interleaves,
besides every rule of the pipeline model (events, deliveries, duplicate and reordered deliveries, sweeps, crashes
at each step of a job, a snooze that ends with no write):

* app writes, one transaction each or several together: inserts, updates of every counted column (padded and
  blank setters among them), deletes, leads moved to another workspace, review drafts created, settled, deleted
  (their messages' "aiDraftId" set null by the foreign key) and moved to another lead, AI-sent emails created,
  deleted and moved to another lead (of any workspace); then the app's dirty event for each workspace written,
  or not (the sweep finds the recorded changes);
* a bulk load (`COPY "Lead" ... FROM STDIN`, through pg8000's stream) and, once an example, a TRUNCATE;
* the deploy's backfill: a recompute event per workspace at the start (always for one without leads, which no
  trigger ever records);
* two workers, each planning its own event (a dirty one with changes due plans the incremental pass, a recompute
  the full one), one holding the lock while the other gets busy, with or without an app write between the first's
  lock query and its statement; and an app write landing while the recompute statement runs.

After every step, besides the pipeline model's invariants: a workspace with neither a mark nor a recorded change
has counts equal to the oracle's as of their computedAt, and one without a mark has a lead state equal to fresh
contributions (`state_differences`: leads with a change recorded left out). After draining: no mark, no lead
change, the counts equal the oracle's now, the state stands for them and equals fresh contributions. Across the
run, the function's idempotency records must show incremental passes, and full ones.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime
from typing import Any, ClassVar

import pg8000.native
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule, run_state_machine_as_test

from shared.adapters.postgres_url import connection_kwargs
from shared.domain.passes import Pass
from tests.builders import Workspace, new_id
from tests.integration.functions.test_inbox_function import dirty_body
from tests.integration.model.rig import Rig
from tests.integration.model.test_pipeline_model import (
    MODEL_SETTINGS,
    N_WORKSPACES,
    TIMES,
    Change,
    PipelineModel,
    Track,
    changes,
    lead_columns,
    lead_picks,
    step,
    workspaces,
)

# Besides the pipeline model's changes: what moves a lead's contribution between leads or workspaces
capture_changes = st.one_of(
    changes,
    st.tuples(st.just("move"), workspaces),
    st.tuples(st.just("delete_drafts"), st.none()),
    st.tuples(st.just("delete_ai_sent"), st.none()),
    st.tuples(st.just("move_drafts"), st.tuples(workspaces, lead_picks)),
    st.tuples(st.just("move_ai_sent"), st.tuples(workspaces, lead_picks)),
)
# The app's dirty events, far more often than an operator's recompute: the incremental job serves the former
capture_event_kinds = st.sampled_from(["dirty", "dirty", "dirty", "recompute"])
AI_EXTRAS = [(), ("review_draft",), ("ai_sent",), ("review_draft", "ai_sent")]
first_writes = st.none() | st.tuples(lead_picks, capture_changes)
COPIED = (
    "status",
    "sentimentTag",
    "lastInboundAt",
    "lastOutboundAt",
    "lastZrgOutboundAt",
    "assignedToUserId",
    "snoozedUntil",
)


def copy_text(value: Any) -> str:
    """One field of COPY's text format."""
    if value is None:
        return "\\N"
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class CaptureModel(PipelineModel):
    capture = True
    loader: ClassVar[Any]  # a bulk loader's own connection (pg8000's, for COPY ... FROM STDIN)

    def __init__(self) -> None:
        super().__init__()
        self.truncated = False

    # -- setup ------------------------------------------------------------------------------------------------
    @initialize(
        leads=st.lists(
            st.lists(st.tuples(lead_columns, st.sampled_from(AI_EXTRAS)), min_size=0, max_size=3),
            min_size=N_WORKSPACES,
            max_size=N_WORKSPACES,
        ),
        send=st.lists(st.booleans(), min_size=N_WORKSPACES, max_size=N_WORKSPACES),
        backfill=st.lists(st.booleans(), min_size=N_WORKSPACES, max_size=N_WORKSPACES),
    )
    @step
    def create_workspaces(
        self, leads: list[list[tuple[dict[str, Any], tuple[str, ...]]]], send: list[bool], backfill: list[bool]
    ) -> None:
        """Workspaces whose leads come with review drafts and AI-sent emails (so that moving or deleting them
        matters from the first step), the app's dirty event or not, the deploy's backfill or not."""
        for columns_of_leads, with_event, with_backfill in zip(leads, send, backfill, strict=True):
            workspace = Workspace.create(self.rig.app)
            self.ids.append(workspace.id)
            self.leads.append([])
            self.tracks[workspace.id] = Track()
            for columns, extras in columns_of_leads:
                self.leads[-1].append(workspace.lead(**columns))
                for extra in extras:
                    self._apply(self.rig.app, len(self.ids) - 1, -1, (extra, None))
            if with_event:
                self.rig.aws.send("counts", dirty_body(workspace.id))
            if with_backfill or not columns_of_leads:
                self.send_event(len(self.ids) - 1, "recompute", 1)

    # -- the app: plain SQL, no marks -------------------------------------------------------------------------
    @rule(
        writes=st.tuples(
            st.booleans(),
            st.lists(
                st.tuples(workspaces, lead_picks, capture_changes, st.sampled_from([True, True, True, False])),
                min_size=1,
                max_size=3,
            ),
        )
    )
    @step
    def app_transactions(self, writes: tuple[bool, list[tuple[int, int, Change, bool]]]) -> None:
        """App writes of every kind (the pipeline model's `app_writes` runs too, with its own), each in a
        transaction of its own or all in one, then (usually) its dirty events. (One argument: Hypothesis favours
        rules with fewer.)"""
        together, each = writes
        self._app_writes(each, together=together)

    @rule(load=st.tuples(workspaces, st.lists(lead_columns, min_size=1, max_size=3), st.booleans()))
    @step
    def copy_leads(self, load: tuple[int, list[dict[str, Any]], bool]) -> None:
        """A bulk load of leads, then (or not) the app's dirty event: COPY fires the statement-level insert
        triggers as an INSERT does."""
        ws, rows, send = load
        ids = [new_id() for _ in rows]
        lines = [
            "\t".join(copy_text(value) for value in (lead_id, self.ids[ws], TIMES[0], *map(row.get, COPIED)))
            for lead_id, row in zip(ids, rows, strict=True)
        ]
        names = ", ".join(f'"{name}"' for name in ("id", "clientId", "updatedAt", *COPIED))
        self.loader.run(f'COPY "Lead" ({names}) FROM STDIN', stream=io.StringIO("".join(f"{line}\n" for line in lines)))
        self.leads[ws].extend(ids)
        if send:
            self._send_dirty({ws})

    @precondition(lambda self: not self.truncated)
    @rule(table=st.sampled_from(["Lead", "Message", "AIDraft"]), send=st.booleans())
    @step
    def truncate(self, table: str, send: bool) -> None:
        """TRUNCATE (its cascade included) records no lead: it marks every workspace, whose next job is then full."""
        self.rig.app.run(f'TRUNCATE "{table}" CASCADE')
        if table == "Lead":
            for leads in self.leads:
                leads.clear()
        self.truncated = True
        if send:
            self._send_dirty(set(range(N_WORKSPACES)))

    @rule(pick=st.tuples(workspaces, lead_picks, st.none() | capture_changes, st.booleans()))
    @step
    def snooze_ends_between_jobs(self, pick: tuple[int, int, Change | None, bool]) -> None:
        """A lead snoozed for a moment and its workspace's job run at once (the state keeps the snooze's end), then
        the snooze ends, and the lead changes or not, then (or not) the app's dirty event: the next job moves the
        lead in, and never takes away what it did not count."""
        ws, lead, change, send = pick
        if not self.leads[ws]:
            return
        until = self.rig.app.run(
            'UPDATE "Lead" SET "snoozedUntil" = date_trunc(\'milliseconds\', statement_timestamp() AT TIME ZONE '
            "'UTC') + interval '300 milliseconds' WHERE id = :id RETURNING \"snoozedUntil\" AS until",
            id=self.leads[ws][lead % len(self.leads[ws])],
        )[0]["until"]
        event = self._targeted(ws, "dirty")
        self._finish(event, "counts_high", self.rig.function.invoke(event, self._context()))
        self.snooze_until = max(self.snooze_until or until, until)
        self._wait_for_snoozes()
        if change is not None:
            self._app_writes([(ws, lead, change, send)], together=False)
        elif send:
            self._send_dirty({ws})

    def _mark(self, db: Any, ws: int) -> None:
        """The app does not mark: the triggers record what it changed."""

    # -- events, crashes and concurrency: the pipeline model's rules, with dirty events weighted -----------------
    # A crash rule may write first (no event: the crash's own event serves it), so that its dirty event finds a
    # change to apply: then the crash lands inside the incremental job.
    def _write_first(self, ws: int, write: tuple[int, Change] | None) -> None:
        if write is not None:
            self._app_writes([(ws, *write, False)], together=False)

    @rule(ws=workspaces, kind=capture_event_kinds, copies=st.integers(1, 3))
    def send_event(self, ws: int, kind: str, copies: int) -> None:
        super().send_event(ws, kind, copies)

    @rule(ws=workspaces, kind=capture_event_kinds, write=first_writes)
    def crash_with_redis_down(self, ws: int, kind: str, write: tuple[int, Change] | None = None) -> None:
        self._write_first(ws, write)
        super().crash_with_redis_down(ws, kind)

    @rule(ws=workspaces, kind=capture_event_kinds, write=first_writes)
    def crash_inside_the_transaction(self, ws: int, kind: str, write: tuple[int, Change] | None = None) -> None:
        self._write_first(ws, write)
        super().crash_inside_the_transaction(ws, kind)

    @rule(ws=workspaces, kind=capture_event_kinds, write=first_writes)
    def crash_after_commit_before_the_bump(self, ws: int, kind: str, write: tuple[int, Change] | None = None) -> None:
        self._write_first(ws, write)
        super().crash_after_commit_before_the_bump(ws, kind)

    @rule(ws=workspaces, kind=capture_event_kinds, write=first_writes)
    def crash_after_the_bump(self, ws: int, kind: str, write: tuple[int, Change] | None = None) -> None:
        self._write_first(ws, write)
        super().crash_after_the_bump(ws, kind)

    @rule(
        ws=workspaces,
        kind=capture_event_kinds,
        other_kind=capture_event_kinds,
        other_commits=st.booleans(),
        write=first_writes,
    )
    @step
    def two_workers(
        self, ws: int, kind: str, other_kind: str, other_commits: bool, write: tuple[int, Change] | None = None
    ) -> None:
        self._two_workers(ws, kind, other_kind, other_commits, write)

    @rule(ws=workspaces, lead=lead_picks, change=capture_changes, kind=capture_event_kinds)
    @step
    def app_write_during_the_recompute(self, ws: int, lead: int, change: Change, kind: str = "recompute") -> None:
        self._write_during_the_recompute(ws, lead, change, kind)


def test_the_counts_stay_exact_from_the_changes_the_triggers_record(capture_rig: Rig) -> None:
    assert capture_rig.redis_proxy is not None
    CaptureModel.rig, CaptureModel.redis_proxy = capture_rig, capture_rig.redis_proxy
    CaptureModel.passes = Counter()
    CaptureModel.loader = pg8000.native.Connection(**connection_kwargs(capture_rig.database_url))
    try:
        run_state_machine_as_test(CaptureModel, settings=MODEL_SETTINGS)
    finally:
        CaptureModel.loader.close()
        del CaptureModel.rig, CaptureModel.redis_proxy, CaptureModel.loader
    # the incremental job did run, and the full pass too (backfills, TRUNCATE, explicit recomputes)
    passes = CaptureModel.passes
    assert passes[Pass.INCREMENTAL.value] > 0 and passes[Pass.FULL_WITH_STATE.value] > 0, passes
    assert set(passes) <= {Pass.INCREMENTAL.value, Pass.FULL_WITH_STATE.value}, passes
