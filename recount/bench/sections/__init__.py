"""The report's sections: every figure and claim built from the run's own results."""

from __future__ import annotations

from recount.bench.b1_recompute import B1Report
from recount.bench.b2_io import B2Result
from recount.bench.b5_sweep import B5Result
from recount.bench.b6_growth import GROWTH, B6Result
from recount.bench.b7_cli import B7Result
from recount.bench.outcome import NotRun
from shared.adapters.sqs import SEND_BATCH_CONCURRENCY

B1_TITLE = "B1 — recompute cost per workspace"
B2_TITLE = "B2 — round trips per job, on the wire"
B5_TITLE = "B5 — a sweep over dirty workspaces"
B1_GOAL_SMALL = 2.0  # the seed at its best over recount's job, below B1_BIG_LEADS
B1_GOAL_BIG = 5.0  # ... and from B1_BIG_LEADS on
B1_BIG_LEADS = 100_000
B6_TITLE = "B6 — database growth"
B6_GOAL_RATIO = 1.3  # the same workspace's recompute, after the rest of the database grew, over before
B7_TITLE = "B7 — operator commands start"
B7_GOAL_RATIO = 2.5  # a command's --help over `python -c "import typer, rich"`


def not_run(title: str, outcome: NotRun) -> list[str]:
    return [f"## {title}", "", f"**Not run** in this run: {outcome.reason}", ""]


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def b1_goal(leads: int) -> float:
    """The seed at its best over recount's whole job: 5x from 100k leads, 2x below."""
    return B1_GOAL_BIG if leads >= B1_BIG_LEADS else B1_GOAL_SMALL


def b1(outcome: B1Report | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B1_TITLE, outcome)
    workspaces = outcome.workspaces
    jit = outcome.functions_jit
    misses = [r for r in outcome.rows if r.job_ratio() < b1_goal(r.leads)]
    lines = [
        f"## {B1_TITLE}",
        "",
        f"Data set: {workspaces.total_leads:,} leads in {len(workspaces.sizes)} workspaces (largest "
        f"{max(workspaces.sizes.values()):,}), with drafts and messages, generated in {workspaces.generate_s:.0f} s, "
        "then vacuumed and analyzed (as autovacuum leaves tables at rest). One workspace of each size: one warm-up "
        f"of each run, then {outcome.repeats} rounds of recount's statement and the seed's two queries, each with "
        "`SET jit = on` and with `SET jit = off`, in an order rotated each round, and recount's whole job; same "
        "process, same connection, every run planned anew; medians. *recount* is the functions' statement (counts "
        "and writes, rolled back); *job* is the functions' whole path (BEGIN, lock and marker, the statement, "
        "COMMIT, the Redis status and version publish); *seed* is the seed's two queries (global, then grouped by "
        "setter, drafts and messages probed per lead, on recount's partial indexes), reads only, at its best "
        "(JIT on or off, whichever was faster for it). *JIT in seed* is the JIT's own time (`EXPLAIN ANALYZE`) in "
        f"one run of the seed's queries with JIT on. recount's sessions run with `jit = {jit}` (set at connection: "
        "the columns show why).",
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
        "| seed ÷ job | goal (job) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r.leads:,} | {r.seed.best_ms:.1f} ({r.seed.best_setting}) | {r.recount.at(jit):.1f} | {r.job_ms:.1f} "
            f"| {r.ratio(jit):.2f}x | **{r.job_ratio():.2f}x** | {b1_goal(r.leads):.0f}x "
            f"{verdict(r.job_ratio() >= b1_goal(r.leads))} |"
            for r in outcome.rows
        ],
        "",
        f"Goal: recount's job at least {B1_GOAL_SMALL:.0f}x faster than the seed at its best below "
        f"{B1_BIG_LEADS:,} leads and {B1_GOAL_BIG:.0f}x from {B1_BIG_LEADS:,} — **{verdict(not misses)}**"
        + (f" (missed at {', '.join(f'{r.leads:,}' for r in misses)} leads)." if misses else "."),
        "",
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
            "(`EXPLAIN (ANALYZE, BUFFERS)`, its scans):",
            "",
            "```",
            *scans,
            "```",
            "",
        ]
    return lines


def b6(outcome: B6Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B6_TITLE, outcome)
    grown = ", ".join(
        f"{what} {outcome.entries_before[what]:,} → {outcome.entries_after[what]:,}" for what in outcome.entries_before
    )
    return [
        f"## {B6_TITLE}",
        "",
        f"The {outcome.leads:,}-lead workspace of B1's data set, recount's statement as the functions run it, "
        f"median of the runs after a warm-up, before and after every other workspace's review drafts and AI-sent "
        f"emails were copied to {GROWTH}x ({grown} in the whole database), vacuumed and analyzed.",
        "",
        "| before (ms) | after (ms) | after ÷ before |",
        "|---:|---:|---:|",
        f"| {outcome.before_ms:.1f} | {outcome.after_ms:.1f} | **{outcome.ratio:.2f}x** |",
        "",
        f"Goal: at most {B6_GOAL_RATIO}x — **{verdict(outcome.ratio <= B6_GOAL_RATIO)}**.",
        "",
    ]


def b2(outcome: B2Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B2_TITLE, outcome)
    goals = {store: goal for store, _, _, _, goal in outcome.rows()}
    misses = [store for store, warm, _, _, goal in outcome.rows() if goal is not None and warm > goal]
    return [
        f"## {B2_TITLE}",
        "",
        "Two dirty events, one batch each, through the real inbox handler loaded fresh; PostgreSQL, Redis and "
        "moto's server reached through counting loopback proxies. A round trip is the client speaking after the "
        "server answered, whatever the protocol; *sent* is what the adapters sent (statements, commands, AWS "
        "requests). The first job pays for connections and prepared statements; the second is a warm job.",
        "",
        "| store | warm job: round trips | warm job: sent | first job: round trips | goal (warm) |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {store} | {warm} | {sent} | {cold} | {'' if goal is None else f'≤ {goal}'} |"
            for store, warm, sent, cold, goal in outcome.rows()
        ],
        "",
        "DynamoDB and SQS share moto's endpoint, so their rows count the clients' HTTP requests (one round trip "
        f"each on a kept-alive connection); the endpoint itself saw {outcome.warm.trips['AWS']} round trips in the "
        f"warm job, for {outcome.warm.sent['DynamoDB'] + outcome.warm.sent['SQS']} requests. Connection set-up "
        "(TCP, and TLS and password exchanges that a hosted store adds) is not in the first job's figures: "
        "these stores are local, without TLS, with trust authentication.",
        "",
        f"Goal: ≤ {goals['PostgreSQL']} / {goals['Redis']} / {goals['DynamoDB']} round trips to PostgreSQL / "
        f"Redis / DynamoDB per warm job — **{verdict(not misses)}**"
        + (f" (over: {', '.join(misses)})." if misses else "."),
        "",
        *_b2_pooled(outcome),
    ]


def _b2_pooled(outcome: B2Result) -> list[str]:
    if outcome.pooled is None:
        return []
    pooled, direct = outcome.pooled, outcome
    return [
        "In pooled mode (`DATABASE_POOLED=true`, what an RDS Proxy endpoint turns on): the session holds "
        "none of the state a proxy documents as pinning. The settings travel as `SET LOCAL` in the BEGIN's "
        "message (no extra trip); no statement is prepared by name, so each statement with parameters takes "
        "pg8000's unnamed path (parse, describe, execute).",
        "",
        "| PostgreSQL | warm job: round trips | warm job: statements | first job: round trips |",
        "|---|---:|---:|---:|",
        f"| direct | {direct.warm.trips['PostgreSQL']} | {direct.warm.sent['PostgreSQL']} | "
        f"{direct.cold.trips['PostgreSQL']} |",
        f"| pooled | {pooled.warm.trips['PostgreSQL']} | {pooled.warm.sent['PostgreSQL']} | "
        f"{pooled.cold.trips['PostgreSQL']} |",
        "",
    ]


def b5(outcome: B5Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B5_TITLE, outcome)
    return [
        f"## {B5_TITLE}",
        "",
        f"The sweep's database side over {outcome.scan_workspaces:,} dirty markers (the backlog query and every "
        f"keyset page): **{outcome.scan_seconds * 1000:.0f} ms in {outcome.scan_statements} statements**. The "
        f"whole sweep, sends included, over {outcome.workspaces:,} dirty workspaces:",
        "",
        "| dirty workspaces | time | PostgreSQL statements | SQS calls | enqueued |",
        "|---:|---:|---:|---:|---:|",
        f"| {outcome.workspaces:,} | {outcome.seconds:.2f} s | {outcome.postgres_statements} | "
        f"{outcome.sqs_calls} | {outcome.enqueued:,} |",
        "",
        f"Its `SendMessageBatch` calls go {SEND_BATCH_CONCURRENCY} at a time. The same sweep with its sends "
        f"answered at once in process took {outcome.seconds_without_sqs:.2f} s: "
        + (
            f"moto's SQS (one Python process on these 2 cores) is {_share(outcome):.0%} of the whole sweep's time."
            if outcome.seconds > 0
            else "no time to compare."
        ),
        "",
        *(
            [
                f"The whole sweep with sends was run over {outcome.workspaces:,} workspaces only, not over "
                f"{outcome.scan_workspaces:,}.",
                "",
            ]
            if outcome.workspaces < outcome.scan_workspaces
            else []
        ),
    ]


def _share(outcome: B5Result) -> float:
    return max(0.0, 1 - outcome.seconds_without_sqs / outcome.seconds)


def b7(outcome: B7Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B7_TITLE, outcome)
    return [
        f"## {B7_TITLE}",
        "",
        f'Each command in a fresh interpreter, beside `python -c "import typer, rich"`, interleaved; medians of '
        f"{outcome.runs} runs of the wall time (the interpreter's own start included on both sides).",
        "",
        "| command | median | over import typer, rich |",
        "|---|---:|---:|",
        f'| `python -c "import typer, rich"` | {outcome.baseline_ms:.0f} ms | 1.00 |',
        *(f"| `{row.command}` | {row.median_ms:.0f} ms | {row.ratio:.2f} |" for row in outcome.rows),
        *(f"| *{row.command}* | {row.median_ms:.0f} ms | {row.ratio:.2f} |" for row in outcome.references),
        "",
        f"Goal: at most {B7_GOAL_RATIO}x — **{verdict(outcome.worst.ratio <= B7_GOAL_RATIO)}** (worst: "
        f"`{outcome.worst.command}`, {outcome.worst.ratio:.2f}x).{_over_bare_app(outcome)}",
        "",
    ]


def _over_bare_app(outcome: B7Result) -> str:
    """recount's commands over the bare typer app's help of the same kind: what recount itself adds."""
    if len(outcome.references) < 2 or len(outcome.rows) < 2:
        return ""
    root = outcome.rows[0].median_ms / outcome.references[0].median_ms
    command = max(row.median_ms for row in outcome.rows[1:]) / outcome.references[1].median_ms
    return (
        f" The bare typer app already takes {outcome.references[0].ratio:.2f}x and {outcome.references[1].ratio:.2f}x:"
        f" over it, `recount --help` takes {root:.2f}x and the slowest command's --help {command:.2f}x."
    )
