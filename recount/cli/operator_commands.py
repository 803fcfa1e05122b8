"""send, status, sweep, backfill and verify: each acts on the running local runtime (.recount/local.json), on a
deployed stack with --stack NAME, else on the environment. Wrong input is exit status 2."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from recount.cli.app import JsonOutput, Region, Stack, err, fail, operate, out

# Each command imports what it runs in its body: `recount --help` and `recount COMMAND --help` load only typer
# and rich (boto3, pydantic and the drivers cost more than the whole CLI).

SomeClientIds = Annotated[list[str] | None, typer.Option("--client-id", help="Workspace id; repeat for several.")]
EveryWorkspace = Annotated[bool, typer.Option("--all", help="Every workspace in PostgreSQL.")]
PriorityOption = Annotated[str, typer.Option("--priority", help="normal or high (high: the counts-high queue).")]


def send_command(
    event: Annotated[
        str,
        typer.Argument(
            help="inbox.counts.dirty, inbox.counts.recompute, analytics.aggregates.recompute, or a sweep event."
        ),
    ],
    client_id: Annotated[str | None, typer.Option("--client-id", help="The workspace (not for sweeps).")] = None,
    priority: PriorityOption = "normal",
    source: Annotated[str, typer.Option("--source", help="Who sent it, as logs and status show.")] = "manual",
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Send one event, validated against the contract before it leaves; print its message id."""
    from recount.commands import send
    from recount.commands.connections import target as resolve
    from recount.render import workspace as render

    built = operate(partial(send.build_event, event, client_id, priority=priority, source=source))
    target = operate(partial(resolve, stack, region))
    render.render_sent(out, operate(partial(send.send_event, target, built)), as_json)


def status_command(
    client_id: Annotated[str, typer.Argument(help="The workspace.")],
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Every job's status blob, the cache versions and the dirty marker's age of one workspace."""
    from recount.commands import status
    from recount.commands.connections import target as resolve
    from recount.commands.usage import valid_client_ids
    from recount.render import workspace as render

    operate(partial(valid_client_ids, [client_id]))
    target = operate(partial(resolve, stack, region))
    render.render_status(out, operate(partial(status.read_status, target, client_id)), as_json)


def sweep_command(
    kind: Annotated[str, typer.Argument(help="inbox or analytics.")],
    min_age: Annotated[
        float | None,
        typer.Option("--min-age", min=0, help="Seconds a dirty marker must have waited [SWEEP_MIN_AGE_SECONDS]."),
    ] = None,
    stack: Stack = None,
    region: Region = None,
) -> None:
    """Run a sweep now: enqueue one recompute per due workspace, as the schedule does."""
    from recount.commands import sweep
    from recount.commands.connections import target as resolve
    from recount.render import workspace as render

    operate(partial(sweep.sweep_kind, kind))
    target = operate(partial(resolve, stack, region))
    report = operate(partial(sweep.run_sweep, target, kind, min_age_s=min_age))
    render.render_sweep(out, kind, report)


def backfill_command(
    every: EveryWorkspace = False,
    client_id: SomeClientIds = None,
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Events per second, at most.")] = 50.0,
    priority: PriorityOption = "normal",
    analytics: Annotated[bool, typer.Option("--analytics", help="Send analytics.aggregates.recompute.")] = False,
    stack: Stack = None,
    region: Region = None,
) -> None:
    """One recompute event per workspace, in batches of ten, with a progress bar and a rate limit."""
    from recount.commands import backfill
    from recount.commands.connections import target as resolve
    from recount.commands.usage import parse_priority, valid_client_ids
    from recount.render import workspace as render

    if every == bool(client_id):
        fail("choose one of --all and --client-id ID", 2)
    operate(partial(parse_priority, priority))
    ids = operate(partial(valid_client_ids, client_id or []))
    target = operate(partial(resolve, stack, region))
    invalid: list[str] = []
    if every:
        ids, invalid = operate(partial(backfill.backfill_ids, target, None))
    render.render_skipped(err, invalid)
    with render.backfill_progress(err, len(ids)) as on_sent:
        report = operate(
            partial(backfill.backfill, target, ids, analytics=analytics, priority=priority, rate=rate, on_sent=on_sent)
        )
    render.render_backfill(out, report, analytics=analytics, invalid=invalid)


def verify_command(
    every: EveryWorkspace = False,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="N random workspaces.")] = None,
    client_id: SomeClientIds = None,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain",
            metavar="CLIENT_ID",
            help="One workspace: every count that differs, by how much, "
            "what feeds it, and what the app changed since the last computation.",
        ),
    ] = None,
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Materialized inbox counts against a fresh computation, writing nothing; exit 1 on drift."""
    from recount.commands import verify
    from recount.commands.connections import target as resolve
    from recount.render.verify import render_verify_json, render_verify_result, render_verify_summary
    from recount.render.workspace import render_skipped

    if explain is not None:
        _explain(
            explain, every=every or sample is not None or bool(client_id), stack=stack, region=region, as_json=as_json
        )
        return
    operate(partial(verify.verify_selection, every=every, sample=sample, client_ids=client_id))
    target = operate(partial(resolve, stack, region))
    ids, invalid = operate(partial(verify.verify_ids, target, every=every, sample=sample, client_ids=client_id))
    render_skipped(err, invalid)
    on_result = (lambda _: None) if as_json else partial(render_verify_result, out)
    results = operate(partial(verify.verify, target, ids, on_result=on_result))
    summary = verify.verify_summary(results, invalid)
    if as_json:
        render_verify_json(out, results, summary)
    else:
        render_verify_summary(out, summary)
    if summary["drift"]:
        raise typer.Exit(1)


def _explain(client_id: str, *, every: bool, stack: str | None, region: str | None, as_json: bool) -> None:
    from recount.commands.connections import target as resolve
    from recount.commands.explain import explain
    from recount.commands.usage import valid_client_ids
    from recount.commands.verify import Verdict
    from recount.render.explain import render_explanation

    if every:
        fail("--explain takes one workspace: leave out --all, --sample and --client-id", 2)
    operate(partial(valid_client_ids, [client_id]))
    target = operate(partial(resolve, stack, region))
    explanation = operate(partial(explain, target, client_id))
    render_explanation(out, explanation, as_json)
    if explanation.result.verdict is Verdict.DRIFT:
        raise typer.Exit(1)


def canary_command(
    rate: Annotated[float, typer.Option("--rate", min=0.1, max=1000, help="Dirty events per second.")] = 2.0,
    duration: Annotated[float, typer.Option("--duration", min=1, help="Seconds of sending.")] = 60.0,
    workspaces: Annotated[
        int, typer.Option("--workspaces", min=1, max=1000, help="Workspaces to sample (made locally if none).")
    ] = 5,
    client_id: SomeClientIds = None,
    max_backlog_age: Annotated[
        float | None, typer.Option("--max-backlog-age-s", min=1, help="[the stage's oldestMessageAgeSeconds]")
    ] = None,
    max_freshness_p95: Annotated[
        float | None, typer.Option("--max-freshness-p95-ms", min=1, help="[the stage's freshnessP95Ms]")
    ] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="Whose alarm thresholds [the stack's].")] = None,
    view: Annotated[bool, typer.Option("--view/--no-view", help="Show the live view.")] = True,
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Send dirty events at a rate, follow each to its job, and exit 1 if the backlog age or the freshness p95
    went over the stage's alarm thresholds (or an event failed, never finished, or was dead-lettered)."""
    from recount.commands import canary
    from recount.commands.connections import target as resolve
    from recount.render import canary as render

    thresholds = operate(
        partial(canary.stage_thresholds, stage, stack, max_backlog_age_s=max_backlog_age, max_p95_ms=max_freshness_p95)
    )
    target = operate(partial(resolve, stack, region))
    ids = operate(partial(canary.choose_workspaces, target, workspaces, client_id or []))
    with render.canary_view(err, enabled=view and not as_json) as on_tick:
        report = operate(
            partial(
                canary.run_canary, target, ids, rate=rate, duration_s=duration, thresholds=thresholds, on_tick=on_tick
            )
        )
    render.render_canary(out, report, as_json)
    if report.problems():
        raise typer.Exit(1)
