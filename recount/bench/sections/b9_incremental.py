"""B9's section of the report: the incremental job against the full one and the seed's approach."""

from __future__ import annotations

from recount.bench.b9_incremental import BESIDE_GROWN, B9Result, B9Row
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B9_TITLE = "B9 — the incremental job"
# One changed lead: the seed at its best over the incremental job, from each size on (issue 28's Done-when).
B9_GOALS_ONE = {1_000: 3.0, 5_000: 10.0, 20_000: 30.0, 100_000: 100.0}
B9_GOAL_MANY = 20.0  # 100 changed leads, from B9_MANY_LEADS on
B9_MANY_LEADS = 100_000
B9_GOAL_FLAT = 1.3  # one changed lead: the largest workspace's job over the smallest's, and grown over base


def b9_goal(row: B9Row) -> float | None:
    """The seed ÷ incremental goal of a row: by its size for one changed lead (the goal of the largest goal size
    at or below it), 20x for 100 changed leads from 100k; no goal otherwise, nor for B1's data set measured again
    beside the grown copy (the base rows are judged where every size was measured)."""
    if row.data_set == BESIDE_GROWN:
        return None
    if row.changed == 1:
        sizes = [size for size in B9_GOALS_ONE if size <= row.leads]
        return B9_GOALS_ONE[max(sizes)] if sizes else None
    if row.changed == 100 and row.leads >= B9_MANY_LEADS:
        return B9_GOAL_MANY
    return None


def _goal_cell(row: B9Row) -> str:
    goal = b9_goal(row)
    return "" if goal is None else f"{goal:.0f}x {verdict(row.seed_ratio >= goal)}"


def flatness(rows: list[B9Row]) -> list[tuple[str, float, float]]:
    """One changed lead: the job's time at the largest size over the smallest, in each data set; the grown copy
    over the base at each size both measured, in the same rounds (B1's data set measured again beside it), or else
    against the base's own rounds. (what, ratio, goal)"""
    judged = []
    for data_set in ("base", "grown"):
        ones = sorted((r for r in rows if r.data_set == data_set and r.changed == 1), key=lambda r: r.leads)
        if len(ones) > 1 and ones[0].incremental_ms:
            what = f"one changed lead, {data_set}: the job at {ones[-1].leads:,} leads over {ones[0].leads:,}"
            judged.append((what, ones[-1].incremental_ms / ones[0].incremental_ms, B9_GOAL_FLAT))
    base = {r.leads: r for r in rows if r.data_set == "base" and r.changed == 1}
    base |= {r.leads: r for r in rows if r.data_set == BESIDE_GROWN and r.changed == 1}
    for grown in sorted((r for r in rows if r.data_set == "grown" and r.changed == 1), key=lambda r: r.leads):
        before = base.get(grown.leads)
        if before is not None and before.incremental_ms:
            rounds = ", in the same rounds" if before.data_set == BESIDE_GROWN else ""
            what = f"one changed lead at {grown.leads:,} leads, grown copy over base{rounds}"
            judged.append((what, grown.incremental_ms / before.incremental_ms, B9_GOAL_FLAT))
    return judged


def _flat(rows: list[B9Row]) -> list[str]:
    return [
        f"- {what[0].upper()}{what[1:]}: **{ratio:.2f}x** (goal ≤ {goal}x: **{verdict(ratio <= goal)}**)."
        for what, ratio, goal in flatness(rows)
    ]


def _beside(outcome: B9Result) -> str:
    """How the grown copy's rows were measured, when they were beside B1's data set."""
    if not any(r.data_set == BESIDE_GROWN for r in outcome.rows):
        return ""
    return (
        f" After B6, its workspace again in the grown copy and in B1's data set (*{BESIDE_GROWN}*), in the same "
        f"{outcome.grown_repeats} rounds (every run of both, in an order rotated each round): the grown copy is "
        "judged against that, not against the base's own rounds minutes earlier."
    )


def b9(outcome: B9Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B9_TITLE, outcome)
    judged = [r for r in outcome.rows if b9_goal(r) is not None]
    misses = [r for r in judged if r.seed_ratio < (b9_goal(r) or 0.0)]
    lines = [
        f"## {B9_TITLE}",
        "",
        "B1's data set migrated with the triggers (`recount migrate --with-triggers`), and B6's grown copy: one "
        "workspace of each size, its lead state built by a full job; then *k* of its leads changed by real "
        "`UPDATE`s (status to or from `needs_repair`) whose triggers record them. *incremental* is the functions' "
        "job with the incremental pass (`apply_changes`), BEGIN to the Redis publish; *full* the same job with the "
        "full pass that keeps the state (`recompute_with_state`), applying the same change back; *seed* the "
        "seed's two queries at their best (JIT on or off, reads only, as B1 takes them). One warm-up of each, then "
        f"{outcome.repeats} rounds, each running every size's runs in an order rotated each round; medians. "
        "*floor* is the job's shape with nothing to compute, in the same rounds: BEGIN, the workspace's lock "
        "alone, a one-row write (so COMMIT flushes the WAL as the job's does), COMMIT, the running status and the "
        "final one; seed ÷ floor is the most any job that keeps recount's transaction and its two Redis commands "
        "could show against the seed here." + _beside(outcome),
        "",
        "| data set | leads in workspace | changed leads | incremental job (ms) | full job (ms) "
        "| seed at its best (ms) | floor (ms) | seed ÷ incremental | seed ÷ floor | full ÷ incremental "
        "| goal (seed ÷ incremental) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r.data_set} | {r.leads:,} | {r.changed} | {r.incremental_ms:.2f} | {r.full_ms:.1f} | "
            f"{r.seed_ms:.1f} | {r.floor_ms:.2f} | **{r.seed_ratio:.1f}x** | {r.floor_ratio:.1f}x | "
            f"{r.full_ratio:.1f}x | {_goal_cell(r)} |"
            for r in outcome.rows
        ],
        "",
        *_flat(outcome.rows),
        *([f"- {outcome.grown_note}"] if outcome.grown_note else []),
        "",
        "Goal (issue 28): one changed lead at least "
        + ", ".join(f"{goal:.0f}x from {size:,}" for size, goal in B9_GOALS_ONE.items())
        + f" leads; 100 changed leads at least {B9_GOAL_MANY:.0f}x from {B9_MANY_LEADS:,} — "
        f"**{verdict(bool(judged) and not misses)}**"
        + (
            f" (missed: {', '.join(f'{r.data_set} {r.leads:,} x {r.changed}' for r in misses)})."
            if misses
            else "."
            if judged
            else " (no row of this run has a goal)."
        ),
        "",
    ]
    for name, plan in outcome.plans.items():
        lines += [
            f"The `{name}` statement for the {outcome.plan_leads:,}-lead workspace, one changed lead "
            "(`EXPLAIN (ANALYZE, BUFFERS)`):",
            "",
            "```",
            *plan,
            "```",
            "",
        ]
    return lines
