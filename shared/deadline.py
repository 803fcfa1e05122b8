"""How long the record being handled may still take, so that no record runs its invocation out of time.

A consumer sets two instants for each record: `work`, by which the record's job must be done (the
invocation's end less TIME_BUDGET_MARGIN_MS), and `end`, by which everything must be done, the decision
about a failure included (the invocation's end less the time Lambda needs to take the response). Every store
call asks `ensure` whether its worst case still fits, or takes `left_s` as its own timeout: a call that
cannot end in time is not started, and raises OutOfTimeError. The margin covers what follows the work
(`shared.contracts.time_budget.decision_reserve_ms`). Outside a consumer (the CLI, tests) nothing is checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from shared.contracts.errors import OutOfTimeError
from shared.contracts.time_budget import RESPONSE_RESERVE_S


@dataclass(frozen=True)
class Deadline:
    """Two instants on the monotonic clock: the work's, and the end of everything."""

    work_at: float
    end_at: float

    @classmethod
    def for_record(cls, remaining_ms: int, margin_ms: int) -> Deadline:
        now = time.monotonic()
        end_at = now + remaining_ms / 1000 - RESPONSE_RESERVE_S
        return cls(work_at=min(end_at, now + (remaining_ms - margin_ms) / 1000), end_at=end_at)

    def closing(self) -> Deadline:
        """The same deadline once the work is over: what follows it may use the margin too."""
        return Deadline(work_at=self.end_at, end_at=self.end_at)


_current: ContextVar[Deadline | None] = ContextVar("recount_deadline", default=None)


@contextmanager
def within(deadline: Deadline | None) -> Iterator[None]:
    """Every store call made inside the block is checked against `deadline`."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def left_s() -> float | None:
    """Seconds left before the current deadline; None when there is none."""
    deadline = _current.get()
    return None if deadline is None else deadline.work_at - time.monotonic()


def ensure(bound_s: float, what: str) -> None:
    """Refuse to start a call that may take up to `bound_s` when less than that is left."""
    left = left_s()
    if left is not None and left < bound_s:
        raise OutOfTimeError(f"out of time: {what} may take {bound_s:g} s and {max(left, 0.0):.2f} s are left")
