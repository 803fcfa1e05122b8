"""B6's section of the report: one workspace's recompute before and after the database grew."""

from __future__ import annotations

from recount.bench.b6_growth import GROWTH, B6Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B6_TITLE = "B6 — database growth"
B6_GOAL_RATIO = 1.3  # the same workspace's recompute, after the rest of the database grew, over before


def b6(outcome: B6Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B6_TITLE, outcome)
    grown = ", ".join(
        f"{what} {outcome.entries_before[what]:,} → {outcome.entries_after[what]:,}" for what in outcome.entries_before
    )
    return [
        f"## {B6_TITLE}",
        "",
        f"The {outcome.leads:,}-lead workspace, recount's statement as the functions run it: *before* in B1's data "
        f"set, *after* in a copy of it where every other workspace's review drafts and AI-sent emails were copied to "
        f"{GROWTH}x ({grown} in the whole database), vacuumed and analyzed. A warm-up on each, then "
        f"{outcome.repeats} rounds of both in turn, the order alternating; medians.",
        "",
        "| before (ms) | after (ms) | after ÷ before |",
        "|---:|---:|---:|",
        f"| {outcome.before_ms:.1f} | {outcome.after_ms:.1f} | **{outcome.ratio:.2f}x** |",
        "",
        f"Goal: at most {B6_GOAL_RATIO}x — **{verdict(outcome.ratio <= B6_GOAL_RATIO)}**.",
        "",
    ]
