"""The inbox job's passes (docs/design.md §10): the full one, the full one that keeps the lead state, and the
incremental one; what the lock query found due besides a mark (`Pending`), and what it is bound with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

# The rules recount_lead_state was built under (docs/design.md §10): a change to what a lead contributes bumps
# it, and every workspace's next job is then a full recompute that builds the state anew.
STATE_RULES = 1
# The incremental job applies at most this many lead changes; more, and the full recompute is cheaper anyway.
MAX_INCREMENTAL_CHANGES = 5_000
# Up to this many changes the incremental job runs without asking the workspace's size; beyond it, only while
# the workspace has more than CROSSOVER leads per change. Measured (B9's jobs, BEGIN to the Redis publish, the
# incremental pass forced against the full pass on the same k changed leads, medians of 3, a loaded 2-core
# machine, B1's full data set grown as B6 grows it): the full pass became as cheap at about 2 leads per change at
# 5k leads (k = 2,500: full/incremental 1.10; k = 1,500: 1.69; k = 1,000: 2.30) and below 8 at 20k (k = 2,500:
# 2.77); at 100k the incremental job still won 5.5x at MAX_INCREMENTAL_CHANGES (20 leads per change). 4 keeps
# the incremental job about 2x ahead where it is chosen; FEW_CHANGES is small because counting k * CROSSOVER
# leads to decide costs next to nothing, and it keeps a tiny workspace from an incremental job larger than it.
FEW_CHANGES = 16
CROSSOVER = 4
# A full pass over at most this many leads, probing both ways, runs a generic plan (the lock query's `generic`).
# Planning the full statement took 1.6 ms of PostgreSQL's CPU on a 2-core machine, more than running it over 20
# leads (0.6 ms); a generic plan kept once prepared takes none.
GENERIC_PLAN_LEADS = 100


class Pass(StrEnum):
    """How a recompute of the inbox counts goes about it."""

    FULL = "full"  # every lead of the workspace (`recompute`)
    FULL_WITH_STATE = "full_with_state"  # every lead, keeping each one's contribution (`recompute_with_state`)
    INCREMENTAL = "incremental"  # only the changed leads, against what they contributed (`apply_changes`)


STATEMENT_OF = {Pass.FULL: "recompute", Pass.FULL_WITH_STATE: "recompute_with_state", Pass.INCREMENTAL: "apply_changes"}


def lock_parameters(client_id: str, now: datetime | None = None, *, incremental: bool = False) -> dict[str, Any]:
    """What the inbox lock query is bound with, besides the lock class. `incremental`: the job may take the
    incremental pass, so the query decides whether it will (and then chooses no full-pass paths)."""
    return {
        "client_id": client_id,
        "now": now,
        "incremental": incremental,
        "rules": STATE_RULES,
        "max_changes": MAX_INCREMENTAL_CHANGES,
        "few_changes": FEW_CHANGES,
        "crossover": CROSSOVER,
        "generic_plan_leads": GENERIC_PLAN_LEADS,
    }


@dataclass(frozen=True)
class Pending:
    """What the inbox lock query found due besides the workspace's mark: the lead changes recorded for it
    (their number, a key derived from exactly those rows, the first one's time), whether a snooze ended since
    the last computation, and whether the incremental pass runs (the lock query decides, when asked)."""

    changes: int = 0
    changes_key: str | None = None
    first_change_at: datetime | None = None
    snoozes_ended: bool = False
    capture: bool = False
    state_ready: bool = False
    leads_seen: int | None = None
    computed_at: datetime | None = None
    incremental: bool = False  # no mark, the state stands for the counts, the changes few enough to win

    @property
    def due(self) -> bool:
        return self.changes > 0 or self.snoozes_ended

    @property
    def full_pass(self) -> Pass:
        return Pass.FULL_WITH_STATE if self.capture else Pass.FULL

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Pending:
        if "changes" not in row:
            return cls()
        return cls(
            changes=int(row["changes"] or 0),
            changes_key=row["changes_key"],
            first_change_at=row["first_change_at"],
            snoozes_ended=bool(row["snoozes_ended"]),
            capture=bool(row["capture"]),
            state_ready=bool(row["state_ready"]),
            leads_seen=row["leads_seen"],
            computed_at=row["computed_at"],
            incremental=bool(row["incremental"]),
        )
