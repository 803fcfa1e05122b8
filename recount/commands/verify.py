"""verify: materialized inbox counts against a fresh computation, writing nothing. It runs the functions' own
statements (shared/queries/inbox_counts.sql) in a transaction that is always rolled back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from recount.commands import OPERATOR_QUERIES
from recount.commands.connections import clients_for
from recount.commands.status import iso_timestamp
from recount.commands.targets import Target
from recount.commands.usage import UsageError, valid_client_ids
from recount.commands.workspaces import all_client_ids, sample_client_ids
from shared.contracts.errors import BusyError
from shared.contracts.keys import JobName
from shared.domain.passes import STATE_RULES, lock_parameters
from shared.domain.recompute import LOCK_CLASS
from shared.ports import Database
from shared.queries import query


class Verdict(StrEnum):
    OK = "ok"
    DRIFT = "drift"  # the materialized rows differ from a fresh computation, and nothing is due to fix them
    PENDING = "pending"  # they may differ, and a recompute is due (a dirty marker, or a snooze that expired)
    BUSY = "busy"  # a recompute holds the workspace's lock: nothing to compare against yet
    MISSING = "missing"  # no such workspace


@dataclass(frozen=True)
class VerifyResult:
    clientId: str
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    result: VerifyResult
    materialized: Rows
    fresh: Rows  # what a recompute now would write (the same as materialized when it would change nothing)


def verify_workspace(db: Database, client_id: str) -> VerifyResult:
    return compare_workspace(db, client_id).result


def compare_workspace(db: Database, client_id: str) -> Comparison:
    """Compare the materialized inbox counts with a fresh computation, writing nothing: the functions' own
    statements (lock_and_read_marker, then recompute) in one transaction that is always rolled back."""
    before: Rows = {}
    after: Rows = {}

    def compared(verdict: Verdict, detail: str = "") -> Comparison:
        return Comparison(VerifyResult(client_id, verdict, detail), before, after)

    db.run("BEGIN")
    try:
        lock = db.run(
            query("inbox_counts", "lock_and_read_marker"),
            lock_class=LOCK_CLASS[JobName.INBOX_COUNTS],
            **lock_parameters(client_id),
        )[0]
        if not lock["locked"]:
            return compared(Verdict.BUSY, "a recompute holds the workspace's lock")
        before.update(_rows(db, client_id))
        state = db.run(query("inbox_counts", "state_differences"), client_id=client_id, rules=STATE_RULES)[0]
        row = db.run(
            query("inbox_counts", "recompute"),
            client_id=client_id,
            now=None,
            probe_review=lock["probe_review"],
            probe_sent=lock["probe_sent"],
        )[0]
        if not row["workspace_exists"]:
            return compared(Verdict.MISSING, "no such workspace")
        after.update(_rows(db, client_id) if row["changed"] else before)
        difference = _difference(before, after)
        if lock["generation"] is not None:
            found = f"differs: {difference}" if row["changed"] else "matches a fresh computation"
            return compared(Verdict.PENDING, f"dirty since {iso_timestamp(lock['dirty_at'])}; {found}")
        if lock["changes"]:
            found = f"differs: {difference}" if row["changed"] else "matches a fresh computation"
            since = iso_timestamp(lock["first_change_at"])
            return compared(Verdict.PENDING, f"{lock['changes']} lead change(s) recorded since {since}; {found}")
        if state["differing"]:
            sample = ", ".join(state["sample"])
            return compared(
                Verdict.DRIFT,
                f"the lead state of {state['differing']} lead(s) differs from their fresh contributions ({sample})",
            )
        if not row["changed"]:
            return compared(Verdict.OK)
        computed_at = before.get((True, GLOBAL_SCOPE), {}).get("computed_at")
        if (
            computed_at is not None
            and db.run(
                query("operations", "snoozes_expired_between", OPERATOR_QUERIES),
                client_id=client_id,
                since=computed_at,
                until=row["computed_at"],
            )[0]["expired"]
        ):
            return compared(
                Verdict.PENDING,
                f"a snooze expired since {iso_timestamp(computed_at)}; the sweep enqueues it: {difference}",
            )
        return compared(Verdict.DRIFT, difference)
    except BusyError as error:  # a row lock (the app's marker upsert) outlasted lock_timeout
        return compared(Verdict.BUSY, str(error))
    finally:
        db.rollback()


GLOBAL_SCOPE = "00000000-0000-0000-0000-000000000000"
# The contract's counts as read_counts names them (awaiting_reply is derived from two of the others).
COUNT_COLUMNS = (
    "total",
    "total_non_blacklisted",
    "needs_repair",
    "all_responses",
    "requires_attention",
    "previously_required_attention",
    "ai_review",
    "ai_sent",
    "awaiting_reply",
)
Rows = dict[tuple[bool, str], dict[str, Any]]


def _rows(db: Database, client_id: str) -> Rows:
    return {
        (row["is_global"], row["scope_user_id"]): row
        for row in db.run(query("inbox_counts", "read_counts"), client_id=client_id)
    }


def _difference(materialized: Rows, fresh: Rows, limit: int = 4) -> str:
    """What a recompute would change, as `scope: column materialized->fresh`, the first few only."""
    changes = []
    for key in sorted(materialized.keys() | fresh.keys(), key=lambda k: (not k[0], k[1])):
        scope = "global" if key[0] else key[1]
        if key not in fresh:
            changes.append(f"{scope}: row would be deleted")
        elif key not in materialized:
            changes.append(f"{scope}: row missing")
        else:
            changes.extend(
                f"{scope}: {column} {materialized[key][column]}->{fresh[key][column]}"
                for column in COUNT_COLUMNS
                if materialized[key][column] != fresh[key][column]
            )
    shown = "; ".join(changes[:limit]) + (f"; and {len(changes) - limit} more" if len(changes) > limit else "")
    return shown or "no row differs"


def verify_selection(*, every: bool, sample: int | None, client_ids: list[str] | None) -> None:
    """Exactly one of --all, --sample N, --client-id ID...; given ids all valid. Checked before any I/O."""
    if sum((every, sample is not None, bool(client_ids))) != 1:
        raise UsageError("choose exactly one of --all, --sample N and --client-id ID")
    if sample is not None and sample < 1:
        raise UsageError("--sample must be at least 1")
    valid_client_ids(client_ids or [])


def verify_ids(
    target: Target, *, every: bool, sample: int | None, client_ids: list[str] | None
) -> tuple[list[str], list[str]]:
    """The workspaces to verify, and invalid ids found in PostgreSQL (reported and skipped)."""
    verify_selection(every=every, sample=sample, client_ids=client_ids)
    if client_ids:
        return client_ids, []
    clients = clients_for(target)
    try:
        return all_client_ids(clients.db) if every else sample_client_ids(clients.db, sample)
    finally:
        clients.close()


def verify(
    target: Target, client_ids: list[str], on_result: Callable[[VerifyResult], None] = lambda _: None
) -> list[VerifyResult]:
    """Each workspace in turn, on one connection."""
    clients = clients_for(target)
    results = []
    try:
        for client_id in client_ids:
            result = verify_workspace(clients.db, client_id)
            results.append(result)
            on_result(result)
    finally:
        clients.close()
    return results


def verify_drift(db: Database, client_ids: list[str]) -> tuple[list[str], list[str]]:
    """For the demo's final check: (workspaces that drifted, workspaces not settled: pending or busy)."""
    results = [verify_workspace(db, client_id) for client_id in client_ids]
    return (
        [r.clientId for r in results if r.verdict is Verdict.DRIFT],
        [r.clientId for r in results if r.verdict in (Verdict.PENDING, Verdict.BUSY)],
    )


def verify_summary(results: list[VerifyResult], invalid: list[str]) -> dict[str, int]:
    summary = {verdict.value: 0 for verdict in Verdict}
    for result in results:
        summary[result.verdict.value] += 1
    return {"workspaces": len(results), **summary, "invalidIdsSkipped": len(invalid)}
