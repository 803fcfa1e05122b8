"""B1's section of the report: recompute cost per workspace, recount's job against the seed's."""

from __future__ import annotations

from recount.bench.b1_recompute import B1Report, B1Result
from recount.bench.job_floor import SIGN_TEST_P, shown_below
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B1_TITLE = "B1 — recompute cost per workspace"
B1_GOAL_SMALL = 2.0  # the seed at its best over recount's job, below B1_BIG_LEADS
B1_GOAL_BIG = 5.0  # ... and from B1_BIG_LEADS on
B1_BIG_LEADS = 100_000


def b1_goal(leads: int) -> float:
    """The seed at its best over recount's whole job: 5x from 100k leads, 2x below."""
    return B1_GOAL_BIG if leads >= B1_BIG_LEADS else B1_GOAL_SMALL


def floor_held(row: B1Result, rows: list[B1Result]) -> bool:
    """Whether the run bears the floor out on `row`'s path (each flag probed per lead or read once hashed, as
    recount's lock query chose): the run shows no job on that path taking less than its own floor
    (`B1Result.under_floor`). A job below it shows the least jobs measured there are not the least a full job does
    on that path, so they bound no size on it."""
    return not any(
        other.under_floor()
        for other in rows
        if (other.probe_review, other.probe_sent) == (row.probe_review, row.probe_sent)
    )


def below_floor(row: B1Result, rows: list[B1Result]) -> bool:
    """A goal no full job could meet here: the seed over the floor of a full job (the cheaper least job, probed or
    on recount's paths) is already under the goal, and the run bears that floor out on the row's path."""
    return 0 < row.floor_ratio() < b1_goal(row.leads) and floor_held(row, rows)


def b1_verdict(row: B1Result, rows: list[B1Result]) -> str:
    if row.job_ratio() >= b1_goal(row.leads):
        return verdict(True)
    return f"out of reach: below its floor ({row.floor_ratio():.2f}x)" if below_floor(row, rows) else verdict(False)


def b1(outcome: B1Report | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B1_TITLE, outcome)
    workspaces = outcome.workspaces
    jit = outcome.functions_jit
    lines = [
        f"## {B1_TITLE}",
        "",
        f"Data set: {workspaces.total_leads:,} leads in {len(workspaces.sizes)} workspaces (largest "
        f"{max(workspaces.sizes.values()):,}), with drafts and messages, generated in {workspaces.generate_s:.0f} s, "
        "then vacuumed and analyzed (as autovacuum leaves tables at rest). One workspace of each size: one warm-up "
        f"of each run, then {outcome.repeats} rounds of recount's statement and the seed's two queries, each with "
        "`SET jit = on` and with `SET jit = off`, in an order rotated each round, then recount's whole job; same "
        "process, same connection, every run planned anew; medians. *recount* is the functions' statement (counts "
        "and writes, rolled back); *job* is the functions' whole path (BEGIN, lock and marker, the statement, "
        "COMMIT, the Redis status and version publish); *seed* is the seed's two queries (global, then grouped by "
        "setter, drafts and messages probed per lead, on recount's partial indexes), reads only, at its best "
        "(JIT on or off, whichever was faster for it). *JIT in seed* is the JIT's own time (`EXPLAIN ANALYZE`) in "
        f"one run of the seed's queries with JIT on. recount's sessions run with `jit = {jit}` (set at connection); "
        f"in this run recount's statement was faster with JIT off at {_faster_off(outcome)} of "
        f"{len(outcome.rows)} sizes.",
        *(
            []
            if outcome.jit_available
            else [
                "",
                "This server has no JIT (`pg_jit_available()` is false with `jit = on`): both settings run the "
                "same plans.",
            ]
        ),
        "",
        "| leads in workspace | recount, JIT on (ms) | recount, JIT off (ms) | seed, JIT on (ms) | seed, JIT off (ms) "
        "| JIT in seed (ms) |",
        "|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r.leads:,} | {r.recount.jit_on_ms:.1f} | {r.recount.jit_off_ms:.1f} | {r.seed.jit_on_ms:.1f} | "
            f"{r.seed.jit_off_ms:.1f} | {r.seed_jit_compile_ms:.1f} |"
            for r in outcome.rows
        ],
        "",
        f"Against the seed at its best, recount as the functions run it (`jit = {jit}`):",
        "",
        "| leads in workspace | seed at its best (ms) | recount statement (ms) | recount job (ms) | seed ÷ statement "
        "| seed ÷ job | recount's path | least job, probed (ms) | least job, recount's paths (ms) "
        "| job's fixed shape (ms) | seed ÷ floor | goal (job) |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r.leads:,} | {r.seed.best_ms:.1f} ({r.seed.best_setting}) | {r.recount.at(jit):.1f} | {r.job_ms:.1f} "
            f"| {r.ratio(jit):.2f}x | **{r.job_ratio():.2f}x** | {r.path} "
            f"| {r.least_probed_ms:.1f} | {r.least_on_paths_ms:.1f} | {r.fixed_ms:.2f} "
            f"| {f'{r.floor_ratio():.2f}x' if r.floor_ms else '—'} "
            f"| {b1_goal(r.leads):.0f}x "
            f"{b1_verdict(r, outcome.rows)} |"
            for r in outcome.rows
        ],
        "",
        "*least job* is the job's own round trips (BEGIN, its lock query, the running status, one statement, COMMIT, "
        "the final status) around the least pass instead of recount's statement: the workspace's leads read once (the "
        "snoozed ones filtered out with the statement's own cutoff), each one's draft and message found once, and its "
        "part in each of the contract's counts computed once and counted per assignee as stored, nothing more (no "
        "trimming, no global row beside the setters', no comparison with the stored rows), one write of the global "
        "row as it is: the counting any full job must do for its rows (`least_pass` in "
        "`recount/queries/seed_inbox_counts.sql`, `least_job` in `recount/bench/job_floor.py`). *probed* finds both "
        "flags by a probe per lead; *recount's paths* as recount's lock query chose at that size, flag by flag (a "
        "probe per lead, or one read of recount's partial index hash-joined, with nested loops as the job sets them): "
        "*recount's path* says which it chose for the review drafts and the AI-sent emails. *job's fixed shape*, for "
        "reading, is the job with nothing to compute (BEGIN, the lock alone, a one-row write, COMMIT, the two Redis "
        "commands). All three run in the same rounds: the least job on recount's paths beside the job, each first in "
        "turn, then the fixed shape and the least job probed. *seed ÷ floor* is the seed over the cheaper least job: "
        "the most a full job that reads each lead once, finds its flags either way and counts what the contract "
        "counts could show against the seed. A goal above it is out of any such job's reach there, where the run "
        "bears the floor out (no job on the same path, the same choice for each flag, took less than its own floor: "
        "its median under the floor's and, with 5 rounds or more, under the floor's own least job of the same round "
        "in significantly more rounds than two equal costs would be, by a one-sided sign test at 5%): on the dirty "
        "path the incremental job (B9) is what aims at it, not the full one.",
        "",
        *_same_pass(outcome.rows),
        f"Goal: recount's job at least {B1_GOAL_SMALL:.0f}x faster than the seed at its best below "
        f"{B1_BIG_LEADS:,} leads and {B1_GOAL_BIG:.0f}x from {B1_BIG_LEADS:,} — {_verdicts(outcome.rows)}.",
        "",
        *_unheld(outcome.rows),
        "The analytics statement (30-day window, rolled back; no seed baseline):",
        "",
        "| leads in workspace | analytics (ms) | leads per second |",
        "|---:|---:|---:|",
        *[
            f"| {r.leads:,} | {r.analytics_ms:.1f} | {r.leads / r.analytics_ms * 1000 if r.analytics_ms else 0:,.0f} |"
            for r in outcome.rows
        ],
        "",
    ]
    for (statement, leads), scans in outcome.plans.items():
        lines += [
            f"What the `{statement}` statement reads for the {leads:,}-lead workspace "
            "(`EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)`, its scans and its execution time):",
            "",
            "```",
            *scans,
            "```",
            "",
        ]
    return lines


def _verdicts(rows: list[B1Result]) -> str:
    """Each size's verdict, grouped: met, missed, out of reach (below a floor the run bore out)."""
    met = [r for r in rows if r.job_ratio() >= b1_goal(r.leads)]
    floored = [r for r in rows if r not in met and below_floor(r, rows)]
    missed = [r for r in rows if r not in met and r not in floored]
    groups = (
        (met, f"**{verdict(True)}**"),
        (missed, f"**{verdict(False)}**"),
        (floored, "**out of reach**"),
    )
    shown = [f"{word} at {_sizes(group)} leads" for group, word in groups if group]
    return "; ".join(shown) + (" (below the full job's floor: see B9)" if floored else "")


def _unheld(rows: list[B1Result]) -> list[str]:
    """The sizes whose job took less than its floor: on their path the floor bounds nothing. And those whose job's
    median sat under the floor's where the rounds could not show it below: there the floor stands."""
    below = [r for r in rows if r.under_floor()]
    close = [
        r for r in rows if r.floor_ms and r.job_ms and r.job_ms < r.floor_ms and r not in below and floor_held(r, rows)
    ]
    lines = []
    for r in close:
        which = "probed" if r.least_probed_ms < r.least_on_paths_ms else "on recount's paths"
        lines += [
            f"The job's median was under its floor's at {r.leads:,} leads ({r.job_ms:.1f} against {r.floor_ms:.1f} "
            f"ms), but not in significantly more rounds than two equal costs would be: the job took less than the "
            f"same round's least job {which} in {r.rounds_below_floor} of {r.rounds} rounds (job "
            + ", ".join(f"{ms:.1f}" for ms in r.job_rounds)
            + "; least job "
            + ", ".join(f"{ms:.1f}" for ms in r.floor_rounds)
            + f" ms), where a one-sided sign test at {SIGN_TEST_P:.0%} asks for {_least_shown(r.rounds)}: the floor "
            "stands.",
            "",
        ]
    if not below:
        return lines
    paths = sorted({r.path for r in below})
    return [
        *lines,
        "The job took less than its floor at "
        + ", ".join(
            f"{r.leads:,} leads ({r.job_ms:.1f} against {r.floor_ms:.1f} ms"
            + (f", in {r.rounds_below_floor} of {r.rounds} rounds" if shown_below(r.rounds, r.rounds) else "")
            + ")"
            for r in below
        )
        + f": on {'those paths' if len(paths) > 1 else 'that path'} ({' and '.join(paths)}) the least jobs measured "
        f"are not the least a full job does, so the floor bounds no size on {'them' if len(paths) > 1 else 'it'}, "
        "and a goal there is judged met or missed.",
        "",
    ]


def _least_shown(rounds: int) -> str:
    """How many rounds of `rounds` the sign test asks for before it shows a job below its floor."""
    least = next(below for below in range(rounds + 1) if shown_below(below, rounds))
    return f"{least} of {rounds}"


def _same_pass(rows: list[B1Result]) -> list[str]:
    """Where recount probes both flags, its two least jobs run the same pass: say so, as the floor takes the lower."""
    same = [r for r in rows if r.probe_review and r.probe_sent and r.least_probed_ms and r.least_on_paths_ms]
    if not same:
        return []
    return [
        f"At {_sizes(same)} leads recount's lock query probes both flags, so its two least jobs run the same pass, "
        "in two places of each round ("
        + ", ".join(f"{r.least_probed_ms:.1f} and {r.least_on_paths_ms:.1f} ms" for r in same)
        + "), and the floor takes the lower.",
        "",
    ]


def _sizes(rows: list[B1Result]) -> str:
    return ", ".join(f"{r.leads:,}" for r in rows)


def _faster_off(outcome: B1Report) -> int:
    return sum(1 for row in outcome.rows if row.recount.jit_off_ms <= row.recount.jit_on_ms)
