"""B4's section of the report: the pipeline's capacity, the machine's limit and what bounds it."""

from __future__ import annotations

from recount.bench.b4_floor import HANDLERS, KINDS, LEADS, PARTS, B4Floor
from recount.bench.b4_generator import SENDERS
from recount.bench.b4_pipeline import EMULATION, GROUPS, OWN, SETTLE_S, B4Result, Step
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run

B4_TITLE = "B4 — the pipeline's capacity on the local runtime"
B4_GOAL_P95_S = 2.0  # a step is held while freshness p95 stays within this
B4_GOAL_OWN_CPU_MS = 6.0  # recount's own CPU-ms per event at the rate held (B4's mix: 20-lead workspaces, marked)
B4_GOAL_RATE = 100.0  # dirty events/s held on a 2-core machine
CPU_BOUND_SHARE = 0.9  # of the cores busy at the first step not held: the CPU is what bounds it
SINGLE_PROCESS = {"generator", "moto", "pollers"}  # one process each: one core at most, less with its threads' GIL


def b4(outcome: B4Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B4_TITLE, outcome)
    capacity = outcome.capacity
    lines = [
        f"## {B4_TITLE}",
        "",
        f"{outcome.workspaces} workspaces of {LEADS} leads, vacuumed and analyzed once made (as autovacuum leaves "
        "a table at rest; the steps write no lead); the dirty-event rate (each event with the app's dirty mark) "
        "stepped up "
        f"every {outcome.step_s:.0f} s with no pause, with the `dev` stage's batch sizes, windows and concurrency. "
        "Each execution environment, moto's server and the load generator ran as a process of its own, on "
        f"{outcome.cores} cores. Freshness is from the first change a recompute applied (the generator's marks "
        "keep the time of the first change not yet applied). A step is held when the rate asked was sent (within "
        f"5 %) and freshness p95 over the step (its first {min(SETTLE_S, outcome.step_s / 4):g} s left out, which "
        f"belong to the step before) stayed within {B4_GOAL_P95_S:.0f} s. CPU-ms per event is the step's CPU over "
        "the events sent in it, whichever step's events the functions were working on.",
        "",
        "| rate asked | sent | freshness p50 | p95 | held | CPU-ms per event: all | recount's own | cores busy |",
        "|---:|---:|---:|---:|:---:|---:|---:|---:|",
        *(_step_row(outcome, step) for step in outcome.steps),
        "",
    ]
    if not outcome.steps:
        return [*lines, "**No step ran.**", ""]
    if outcome.stepped_down:
        lines += [
            "The first rate was more than this machine held, so the rate stepped down from it instead, each step "
            "after the queues had drained.",
            "",
        ]
    if capacity is None:
        return [*lines, "**No step was held**, down to the lowest rate tried.", "", *_floor(outcome)]
    own_ms = capacity.own_cpu_per_event() * 1000
    every_step_held = all(step.held(outcome.p95_limit_ms) for step in outcome.steps)
    rate_met = capacity.achieved_rate >= B4_GOAL_RATE
    bound = emulation_bound(outcome)
    rate_verdict = (
        "met"
        if rate_met
        else "not shown: every step held below it"
        if every_step_held
        else f"out of reach: bound by {bound} (the emulation), not recount"
        if bound
        else "missed"
    )
    return [
        *lines,
        f"**Capacity: {'at least ' if every_step_held else ''}{capacity.achieved_rate:.0f} dirty events/s**, held "
        f"for {outcome.step_s:.0f} s. CPU per event at that step, by process group, recount's own apart from the "
        "emulation around it (AWS's services and the app):",
        "",
        "| process group | whose | CPU-ms per event | share |",
        "|---|---|---:|---:|",
        *(_group_row(capacity, group) for group in GROUPS),
        f"| recount's own | | **{own_ms:.2f}** | {_share(capacity, OWN):.0%} |",
        f"| the emulation | | {sum(capacity.cpu_per_event(g) for g in EMULATION) * 1000:.2f} | "
        f"{_share(capacity, EMULATION):.0%} |",
        "",
        f"recount's own CPU per event: **{own_ms:.2f} ms** (goal ≤ {B4_GOAL_OWN_CPU_MS:.0f} ms: "
        f"**{_own_cpu_verdict(outcome)}**): on these {outcome.cores} cores, with nothing "
        f"else running, its own parts would hold {outcome.own_limit(capacity):.0f} events/s. The rate held: "
        f"{capacity.achieved_rate:.0f} events/s (goal ≥ {B4_GOAL_RATE:.0f}/s: **{rate_verdict}**).",
        "",
        f"What bounds it: {_bound(outcome)}" + ("" if rate_met or every_step_held else _bound_rule()),
        "",
        f"Over the whole run: {outcome.sent:,} dirty events, {outcome.recomputes:,} recomputes "
        f"({outcome.recomputes_per_event:.2f} per event), {outcome.coalesced:,} coalesced in a batch, "
        f"{outcome.skipped_clean:,} already clean, {outcome.busy:,} busy re-sends, {outcome.cold_starts} cold "
        f"starts; the queues drained {outcome.drain_s:.1f} s after the traffic stopped.",
        "",
        *_floor(outcome),
    ]


def _records(count: int) -> str:
    return f"{count} record{'' if count == 1 else 's'}"


def _per_invocation(outcome: B4Result) -> str:
    if not outcome.invocations:
        return "none was counted, so one"
    return f"{outcome.records / outcome.invocations:.2f} on average over the run, rounded up"


def own_cpu_bound(outcome: B4Result) -> str:
    """What puts the own-CPU goal out of any handler's reach on this machine, if something does: the mandated
    parts alone spending more than the goal per event at this run's mix, in the steps' terms (B4's floor)."""
    floor_ms = outcome.floor_in_steps_ms()
    if floor_ms is None or floor_ms <= B4_GOAL_OWN_CPU_MS:
        return ""
    return f"the mandated parts alone would take {floor_ms:.2f} ms per event here (B4's floor)"


def _own_cpu_verdict(outcome: B4Result) -> str:
    capacity = outcome.capacity
    if capacity is not None and capacity.own_cpu_per_event() * 1000 <= B4_GOAL_OWN_CPU_MS:
        return "met"
    bound = own_cpu_bound(outcome)
    return f"out of reach: {bound}" if bound else "missed"


def _floor(outcome: B4Result) -> list[str]:
    floor = outcome.floor
    title = "### The floor under recount's own CPU"
    if floor is None:
        return []
    if not isinstance(floor, B4Floor):
        return [title, "", f"Not run: {floor.reason}", ""]
    floor_ms, recount_ms = outcome.floor_ms(), outcome.floor_ms("recount")
    assert floor_ms is not None and recount_ms is not None
    recomputes, clean = outcome.mix
    where = "the capacity step's" if outcome.capacity is not None else "the run's"
    if not recomputes and not clean:
        mix = f"No event was recomputed or skipped clean in {where[:-2]}, so there is no mix to weigh the floor by."
    else:
        mix = (
            f"At {where} mix ({recomputes:.3f} recomputes and {clean:.3f} clean skips per event sent in it, "
            f"counted while it ran) the floor spent **{floor_ms:.2f} ms** per event and recount's handler "
            f"{recount_ms:.2f} ms beside it ({recount_ms / floor_ms:.2f}x the floor). {_in_steps(outcome)}"
        )
    stores = "" if floor.stores_read else " (PostgreSQL's and Redis's parts not read: a store runs on another host)"
    return [
        title,
        "",
        "A CPU-ms is this machine's: a goal in ms can be judged only beside what the same events cost here with "
        "no recount code. After the steps, one execution environment (a process of its own, moto's server in "
        "another) held recount's inbox handler and B3's floor handler (the mandated parts alone, sending recount's "
        "statements: `recount/bench/b3_floor_handler.py`), both warm, each on workspaces of its own shaped as B4's. "
        f"In each of {floor.rounds} rounds each handler took a batch of {_records(floor.batch)} for workspaces the "
        f"app had just marked (full recomputes) and one for workspaces with nothing due (the clean skip: no "
        f"idempotency record), in alternating order: {floor.batch} a batch, as many records as the inbox "
        f"function's invocations had ({_per_invocation(outcome)}). CPU-ms per event, medians over the "
        f"rounds{stores}:",
        "",
        "| handler | event | environment | PostgreSQL | Redis | all |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {handler} | {kind} | "
            + " | ".join(f"{floor.median(handler, kind, part):.2f}" for part in PARTS)
            + f" | {floor.median(handler, kind):.2f} |"
            for kind in KINDS
            for handler in HANDLERS
        ),
        "",
        mix,
        "",
    ]


def _in_steps(outcome: B4Result) -> str:
    """The floor carried over to the steps' figure, or why it is not."""
    in_steps, capacity = outcome.floor_in_steps_ms(), outcome.capacity
    if capacity is None:
        return "No step was held, so there is no figure of the steps' to set it beside."
    if in_steps is None:
        return "The floor did not come out below recount's handler, so it bounds nothing in this run."
    own_ms = capacity.own_cpu_per_event() * 1000
    return (
        "These are one process's figures, the steps' hold every environment, backend and Redis under load, so "
        f"only the ratio carries over: at the steps' {own_ms:.2f} ms, the mandated parts alone would take "
        f"**{in_steps:.2f} ms** per event ({own_ms:.2f} ms times {outcome.floor_ms():.2f} over "
        f"{outcome.floor_ms('recount'):.2f})."
    )


def _step_row(outcome: B4Result, step: Step) -> str:
    return (
        f"| {step.rate:.0f}/s | {step.achieved_rate:.0f}/s | {step.freshness_p50_ms / 1000:.2f} s | "
        f"{step.freshness_p95_ms / 1000:.2f} s | {'yes' if step.held(outcome.p95_limit_ms) else 'no'} | "
        f"{step.cpu_per_event() * 1000:.2f} | {step.own_cpu_per_event() * 1000:.2f} | {step.busy_cores:.2f} |"
    )


def _group_row(step: Step, group: str) -> str:
    whose = "recount" if group in OWN else "emulation"
    return f"| {group} | {whose} | {step.cpu_per_event(group) * 1000:.2f} | {_share(step, (group,)):.0%} |"


def _share(step: Step, groups: tuple[str, ...]) -> float:
    return sum(step.cpu_s[group] for group in groups) / max(1e-9, sum(step.cpu_s.values()))


def _first_behind(outcome: B4Result) -> tuple[Step, str] | None:
    """The lowest rate not held above the capacity (the step where the pipeline first fell behind) and the
    process group that spent the most CPU there; None when every step held."""
    capacity = outcome.capacity
    failed = [
        step
        for step in outcome.steps
        if not step.held(outcome.p95_limit_ms) and (capacity is None or step.rate > capacity.rate)
    ]
    if not failed:
        return None
    step = min(failed, key=lambda s: s.rate)
    return step, max(GROUPS, key=lambda group: step.cpu_s[group])


def emulation_bound(outcome: B4Result) -> str | None:
    """The emulation's one-process group that bounded the rate, if one did: the busiest where the pipeline first
    fell behind, using at least CPU_BOUND_SHARE of the one core its process can use."""
    behind = _first_behind(outcome)
    if behind is None:
        return None
    step, top = behind
    cores = round(step.cpu_s[top] / step.seconds, 2) if step.seconds else 0.0  # as the report prints it
    return top if top in SINGLE_PROCESS and top in EMULATION and cores >= CPU_BOUND_SHARE else None


def _bound_rule() -> str:
    """The rule behind the rate's verdict, as `emulation_bound` applies it."""
    processes = ", ".join(sorted(SINGLE_PROCESS & set(EMULATION)))
    return (
        " The rate is judged bound by the emulation where, at that step, the busiest process group is one of the "
        f"emulation's single processes ({processes}) and used {CPU_BOUND_SHARE:.2f} of a core or more."
    )


def _bound(outcome: B4Result) -> str:
    behind = _first_behind(outcome)
    if behind is None:
        return f"not reached: every step held, up to {outcome.steps[-1].rate:.0f} events/s."
    step, top = behind
    share = step.cpu_s[top] / max(1e-9, sum(step.cpu_s.values()))
    top_cores = step.cpu_s[top] / step.seconds if step.seconds else 0.0
    late = (
        f"at {step.rate:.0f}/s asked, {step.achieved_rate:.0f}/s were sent (the generator marks and sends on "
        f"{SENDERS} threads, each waiting on its answers, and the step ran on until the last was answered); "
        if step.achieved_rate < 0.95 * step.rate
        else f"at {step.rate:.0f}/s freshness p95 reached {step.freshness_p95_ms / 1000:.2f} s; "
    )
    if top in SINGLE_PROCESS:
        return (
            f"{late}the busiest was {top} ({share:.0%} of the CPU), one Python process, whose threads run Python "
            f"code one at a time: it used {top_cores:.2f} of a core, while all the processes used "
            f"{step.busy_cores:.2f} of {outcome.cores}."
        )
    if step.busy_cores >= CPU_BOUND_SHARE * outcome.cores:
        return (
            f"{late}the CPU: the processes kept {step.busy_cores:.2f} of {outcome.cores} cores busy, the most "
            f"of it {top} ({share:.0%})."
        )
    return (
        f"{late}not the CPU ({step.busy_cores:.2f} of {outcome.cores} cores busy): the work waits on something "
        f"else, the functions' concurrency or a lock; {top} spent the most CPU ({share:.0%})."
    )
