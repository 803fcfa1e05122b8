"""The report's first table: every goal the run judged, its figure and its verdict, computed from the same results
as the sections below it (each section's own goal constants and rules, never restated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recount.bench.b3_cold_start import JUDGED
from recount.bench.outcome import NotRun
from recount.bench.sections import verdict
from recount.bench.sections.b1_recompute import b1_goal, below_floor
from recount.bench.sections.b3_cold_start import B3_GOAL_RATIO
from recount.bench.sections.b4_pipeline import B4_GOAL_OWN_CPU_MS, B4_GOAL_RATE, emulation_bound, own_cpu_bound
from recount.bench.sections.b6_growth import B6_GOAL_RATIO
from recount.bench.sections.b7_cli import B7_GOAL_RATIO
from recount.bench.sections.b8_triggers import B8_GOAL_HOT, hot_ratio
from recount.bench.sections.b9_incremental import b9_goal, flatness

if TYPE_CHECKING:
    from recount.bench.report import Results


@dataclass(frozen=True)
class Judged:
    benchmark: str
    figure: str
    goal: str
    met: bool
    bound: str = ""  # when not met: what the run measured that puts the goal out of the judged code's reach

    @property
    def verdict(self) -> str:
        return f"out of reach: {self.bound}" if not self.met and self.bound else verdict(self.met)


def summary(results: Results) -> list[str]:
    judged = [*_b1(results), *_b2(results), *_b3(results), *_b4(results), *_b6(results), *_b7(results), *_b8(results)]
    judged += _b9(results)
    if not judged:
        return []
    missed = sum(1 for j in judged if not j.met and not j.bound)
    bound = sum(1 for j in judged if not j.met and j.bound)
    return [
        "## Goals at a glance",
        "",
        f"{len(judged)} goals judged in this run, {missed} missed"
        + (f", {bound} out of the judged code's reach (the row says what bounds it)" if bound else "")
        + "; each row comes from the section below it.",
        "",
        "| benchmark | figure | goal | verdict |",
        "|---|---|---|---|",
        *(f"| {j.benchmark} | {j.figure} | {j.goal} | **{j.verdict}** |" for j in judged),
        "",
    ]


def _b1(results: Results) -> list[Judged]:
    if isinstance(results.b1, NotRun):
        return []
    return [
        Judged(
            f"B1 recompute job, {row.leads:,} leads",
            f"seed ÷ job {row.job_ratio():.2f}x ({row.seed.best_ms:.1f} / {row.job_ms:.1f} ms)",
            f"≥ {b1_goal(row.leads):.0f}x",
            row.job_ratio() >= b1_goal(row.leads),
            f"a full job's floor, seed ÷ floor {row.floor_ratio():.2f}x (see B9)"
            if below_floor(row, results.b1.rows)
            else "",
        )
        for row in results.b1.rows
    ]


def _b2(results: Results) -> list[Judged]:
    if isinstance(results.b2, NotRun):
        return []
    judged = [(store, warm, goal) for store, warm, _, _, goal in results.b2.rows() if goal is not None]
    return [
        Judged(
            "B2 round trips per warm job",
            " / ".join(f"{store} {warm}" for store, warm, _ in judged),
            "≤ " + " / ".join(str(goal) for _, _, goal in judged),
            all(warm <= goal for _, warm, goal in judged),
        )
    ]


def _b3(results: Results) -> list[Judged]:
    if isinstance(results.b3, NotRun):
        return []
    return [
        Judged(
            f"B3 `{JUDGED}` cold start, {'traced' if setting.traced else 'tracing off'}",
            f"{ratio:.2f}x the floor"
            + (
                f" ({results.b3.ratio(setting, row, paused):.2f}x the floor loaded paused, as recount's handlers load)"
                if (paused := setting.paused_floor) and (row := setting.row(JUDGED))
                else ""
            ),
            f"≤ {B3_GOAL_RATIO}x",
            ratio <= B3_GOAL_RATIO,
        )
        for setting, ratio in results.b3.judged()
    ]


def _b4(results: Results) -> list[Judged]:
    b4 = results.b4
    if isinstance(b4, NotRun) or b4.capacity is None:
        return []
    own_ms = b4.capacity.own_cpu_per_event() * 1000
    cpu = Judged(
        "B4 recount's own CPU per event",
        f"{own_ms:.2f} ms",
        f"≤ {B4_GOAL_OWN_CPU_MS:.0f} ms",
        own_ms <= B4_GOAL_OWN_CPU_MS,
        own_cpu_bound(b4),
    )
    rate = b4.capacity.achieved_rate
    if rate < B4_GOAL_RATE and all(step.held(b4.p95_limit_ms) for step in b4.steps):
        return [cpu]  # every step held, all below the goal's rate: this run did not judge the rate
    bound = emulation_bound(b4)
    own = b4.own_limit(b4.capacity)
    why = f"{bound}, one process of the emulation, bounds it; recount's own parts would hold {own:.0f}/s"
    return [
        cpu,
        Judged(
            "B4 rate held",
            f"{rate:.0f} events/s",
            f"≥ {B4_GOAL_RATE:.0f}/s",
            rate >= B4_GOAL_RATE,
            why if bound else "",
        ),
    ]


def _b6(results: Results) -> list[Judged]:
    if isinstance(results.b6, NotRun):
        return []
    b6 = results.b6
    figure = f"{b6.ratio:.2f}x ({b6.before_ms:.1f} → {b6.after_ms:.1f} ms)"
    return [
        Judged(
            f"B6 the {b6.leads:,}-lead recompute, database grown",
            figure,
            f"≤ {B6_GOAL_RATIO}x",
            b6.ratio <= B6_GOAL_RATIO,
        )
    ]


def _b7(results: Results) -> list[Judged]:
    if isinstance(results.b7, NotRun):
        return []
    worst = results.b7.worst
    return [
        Judged(
            "B7 slowest command start",
            f"{worst.ratio:.2f}x (`{worst.command}`)",
            f"≤ {B7_GOAL_RATIO}x",
            worst.ratio <= B7_GOAL_RATIO,
        )
    ]


def _b8(results: Results) -> list[Judged]:
    if isinstance(results.b8, NotRun):
        return []
    ratio = hot_ratio(results.b8)
    return [
        Judged(
            "B8 a hot workspace's writes with the capture",
            f"{ratio:.2f}x unmarked",
            f"≥ {B8_GOAL_HOT}x",
            ratio >= B8_GOAL_HOT,
        )
    ]


def _b9(results: Results) -> list[Judged]:
    if isinstance(results.b9, NotRun):
        return []
    judged = []
    for row in results.b9.rows:
        goal = b9_goal(row)
        if goal is not None:
            judged.append(
                Judged(
                    f"B9 incremental job, {row.data_set}, {row.leads:,} leads, {row.changed} changed",
                    f"seed ÷ job {row.seed_ratio:.1f}x ({row.incremental_ms:.2f} ms; floor {row.floor_ratio:.1f}x)",
                    f"≥ {goal:.0f}x",
                    row.seed_ratio >= goal,
                )
            )
    return judged + [
        Judged(f"B9 {what}", f"{ratio:.2f}x", f"≤ {goal}x", ratio <= goal)
        for what, ratio, goal in flatness(results.b9.rows)
    ]
