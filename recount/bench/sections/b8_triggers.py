"""B8's section of the report: what the optional capture triggers cost the app's writes."""

from __future__ import annotations

from recount.bench.b8_triggers import B8Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B8_TITLE = "B8 — the dirty triggers' cost to the app's writes"  # the anchor other pages link
B8_GOAL_HOT = 0.8  # the hot workspace's write rate with the capture over its unmarked rate


def b8(outcome: B8Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B8_TITLE, outcome)
    return [
        f"## {B8_TITLE}",
        "",
        "Two databases with the same workspace of leads, one with `recount migrate --with-triggers` and one "
        f"without; each statement run on both, alternately, {outcome.runs} times (medians of the time the app "
        "waits, round trip included):",
        "",
        "| statement | without triggers | with triggers | ratio |",
        "|---|---:|---:|---:|",
        *(
            f"| {row.statement} | {row.without_ms:.2f} ms | {row.with_ms:.2f} ms | {row.ratio:.2f}x |"
            for row in outcome.rows
        ),
        "",
        f"A hot workspace: {outcome.writers} writers (threads of one Python process, each its own connection) "
        f"updating its leads at once, every write its own transaction, {outcome.hot_seconds:.0f} s each way in "
        f"{outcome.hot_rounds} rounds taken in turn (medians). The app's own mark serializes one workspace's writes "
        "on its "
        "`InboxCountsDirty` row until each commits; the triggers record each changed lead in its own row of "
        "`recount_lead_change`, so writers of different leads do not wait on each other:",
        "",
        "| writes | per second |",
        "|---|---:|",
        f"| no mark (stale counts: what a forgotten mark costs) | {outcome.hot_plain:.0f} |",
        f"| the app's own mark in each transaction | {outcome.hot_app_mark:.0f} |",
        f"| the triggers recording each changed lead | {outcome.hot_triggers:.0f} |",
        "",
        f"With the triggers the hot workspace keeps **{hot_ratio(outcome):.2f}x** of its unmarked write rate "
        f"(goal ≥ {B8_GOAL_HOT}x: **{verdict(hot_ratio(outcome) >= B8_GOAL_HOT)}**).",
        "",
    ]


def hot_ratio(outcome: B8Result) -> float:
    return outcome.hot_triggers / max(outcome.hot_plain, 1e-9)
