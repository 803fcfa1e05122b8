"""python -m recount: the operator's commands, on the same code path as the functions."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from recount import render
from recount.commands import backfill, send, status, sweep, verify
from recount.commands.connections import target as resolve
from recount.commands.dead_letters.peek import peek
from recount.commands.dead_letters.queues import queue_key
from recount.commands.dead_letters.redrive import redrive
from recount.commands.usage import UsageError, parse_priority, valid_client_ids
from recount.migrations import migrate as apply_migrations
from recount.render import render_peek, render_redrive
from shared.contracts.client_id import validate_client_id
from shared.contracts.errors import BusyError, RecountError
from shared.contracts.events import json_schema
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings, StoreSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute, RecomputeOutcome
from shared.stores import open_cache, open_database

app = typer.Typer(
    help="recount: keep inbox counts and analytics fresh.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
recompute_app = typer.Typer(help="Recompute workspaces now (waits for a running recompute).", no_args_is_help=True)
app.add_typer(recompute_app, name="recompute")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

ClientIds = Annotated[list[str], typer.Option("--client-id", help="Workspace id; repeat for several.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {' '.join(message.split())}")
    raise typer.Exit(code)


def guarded(action: Callable[[], T]) -> T:
    """Run an action, turning every expected error into one line and a non-zero exit."""
    try:
        return action()
    except RecountError as error:
        fail(str(error))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        fail(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", 2)


@app.command()
def migrate(
    recount_only: Annotated[
        bool, typer.Option(help="Only the tables recount owns (for production, where the app's tables exist).")
    ] = False,
) -> None:
    """Create the schema in DATABASE_URL (idempotent)."""

    def run() -> list[str]:
        db = open_database(StoreSettings())
        try:
            return apply_migrations(db, recount_only=recount_only)
        finally:
            db.close()

    for name in guarded(run):
        out.print(f"applied {name}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the event envelope."""
    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")


def _recompute(job: JobName, client_ids: list[str], wait_s: float, as_json: bool) -> None:
    for client_id in client_ids:  # every id checked before any I/O
        guarded(partial(validate_client_id, client_id))

    def run() -> list[RecomputeOutcome]:
        recompute_settings = RecomputeSettings()
        if job is JobName.ANALYTICS_AGGREGATES and not recompute_settings.analytics_aggregates_enabled:
            raise RecountError("analytics aggregates are disabled: set ANALYTICS_AGGREGATES_ENABLED=true")
        store_settings = StoreSettings()
        db, cache = open_database(store_settings), open_cache(store_settings, recompute_settings)
        # Reach both stores before anything is written: an unreachable one leaves no trace at all.
        db.run("SELECT 1")
        cache.ping()
        recompute = Recompute(job, db, cache, recompute_settings)
        request_id = f"cli-{uuid.uuid4()}"
        try:
            return [
                _run_waiting(recompute, client_id, JobContext(request_id, "manual"), wait_s) for client_id in client_ids
            ]
        finally:
            db.close()
            cache.close()

    for outcome in guarded(run):
        if as_json:
            out.print_json(
                data={
                    "job": outcome.job.value,
                    "clientId": outcome.client_id,
                    "workspaceExists": outcome.workspace_exists,
                    "changed": outcome.changed,
                    "rowsWritten": outcome.rows_written,
                    "rowsDeleted": outcome.rows_deleted,
                    "version": outcome.version,
                    "markerCleared": outcome.marker_cleared,
                    "durationMs": outcome.duration_ms,
                }
            )
        elif not outcome.workspace_exists:
            out.print(f"{outcome.job.value} {outcome.client_id}: skipped, no such workspace")
        else:
            change = "changed" if outcome.changed else "unchanged"
            marker = ", dirty marker cleared" if outcome.marker_cleared else ""
            out.print(
                f"{outcome.job.value} {outcome.client_id}: {change}, {outcome.rows_written} rows written, "
                f"{outcome.rows_deleted} deleted, version {outcome.version}{marker} "
                f"({outcome.duration_ms} ms)"
            )


def _run_waiting(recompute: Recompute, client_id: str, context: JobContext, wait_s: float) -> RecomputeOutcome:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return recompute.run(client_id, context)
        except BusyError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


Wait = Annotated[float, typer.Option("--wait", help="Seconds to wait for a running recompute.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per workspace.")]


@recompute_app.command("inbox-counts")
def recompute_inbox_counts(client_id: ClientIds, wait: Wait = 10.0, as_json: AsJson = False) -> None:
    """Recompute the inbox counts of each workspace."""
    _recompute(JobName.INBOX_COUNTS, client_id, wait, as_json)


@recompute_app.command("analytics-aggregates")
def recompute_analytics_aggregates(client_id: ClientIds, wait: Wait = 10.0, as_json: AsJson = False) -> None:
    """Recompute the analytics daily aggregates of each workspace (ANALYTICS_AGGREGATES_ENABLED=true)."""
    _recompute(JobName.ANALYTICS_AGGREGATES, client_id, wait, as_json)


# Operator commands: send, status, sweep, backfill, dlq peek|redrive, verify. Each acts on the running local
# runtime (.recount/local.json), on a deployed stack with --stack NAME, else on the environment; the logic is in
# recount/commands/ and printed by recount/render.py. Wrong input is exit status 2.

dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queues.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

Stack = Annotated[
    str | None,
    typer.Option(
        "--stack", help="Act on this deployed stack (its CloudFormation outputs); default: the local runtime."
    ),
]
Region = Annotated[str | None, typer.Option("--region", help="The stack's AWS region.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SomeClientIds = Annotated[list[str] | None, typer.Option("--client-id", help="Workspace id; repeat for several.")]
EveryWorkspace = Annotated[bool, typer.Option("--all", help="Every workspace in PostgreSQL.")]
PriorityOption = Annotated[str, typer.Option("--priority", help="normal or high (high: the counts-high queue).")]
QueueArgument = Annotated[str, typer.Argument(help="counts, counts_high (or counts-high), analytics or sweep.")]


def _operate(action: Callable[[], T]) -> T:
    """guarded, and a usage error (bad input, nothing done) exits with status 2."""

    def checked() -> T:
        try:
            return action()
        except UsageError as error:
            fail(str(error), 2)

    return guarded(checked)


@app.command("send")
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
    built = _operate(partial(send.build_event, event, client_id, priority=priority, source=source))
    target = _operate(partial(resolve, stack, region))
    render.render_sent(out, _operate(partial(send.send_event, target, built)), as_json)


@app.command("status")
def status_command(
    client_id: Annotated[str, typer.Argument(help="The workspace.")],
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Every job's status blob, the cache versions and the dirty marker's age of one workspace."""
    _operate(partial(valid_client_ids, [client_id]))
    target = _operate(partial(resolve, stack, region))
    render.render_status(out, _operate(partial(status.read_status, target, client_id)), as_json)


@app.command("sweep")
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
    _operate(partial(sweep.sweep_kind, kind))
    target = _operate(partial(resolve, stack, region))
    report = _operate(partial(sweep.run_sweep, target, kind, min_age_s=min_age))
    render.render_sweep(out, kind, report)


@app.command("backfill")
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
    if every == bool(client_id):
        fail("choose one of --all and --client-id ID", 2)
    _operate(partial(parse_priority, priority))
    ids = _operate(partial(valid_client_ids, client_id or []))
    target = _operate(partial(resolve, stack, region))
    invalid: list[str] = []
    if every:
        ids, invalid = _operate(partial(backfill.backfill_ids, target, None))
    render.render_skipped(err, invalid)
    with render.backfill_progress(err, len(ids)) as on_sent:
        report = _operate(
            partial(backfill.backfill, target, ids, analytics=analytics, priority=priority, rate=rate, on_sent=on_sent)
        )
    render.render_backfill(out, report, analytics=analytics, invalid=invalid)


@app.command("verify")
def verify_command(
    every: EveryWorkspace = False,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="N random workspaces.")] = None,
    client_id: SomeClientIds = None,
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Materialized inbox counts against a fresh computation, writing nothing; exit 1 on drift."""
    _operate(partial(verify.verify_selection, every=every, sample=sample, client_ids=client_id))
    target = _operate(partial(resolve, stack, region))
    ids, invalid = _operate(partial(verify.verify_ids, target, every=every, sample=sample, client_ids=client_id))
    render.render_skipped(err, invalid)
    on_result = (lambda _: None) if as_json else partial(render.render_verify_result, out)
    results = _operate(partial(verify.verify, target, ids, on_result=on_result))
    summary = verify.verify_summary(results, invalid)
    if as_json:
        render.render_verify_json(out, results, summary)
    else:
        render.render_verify_summary(out, summary)
    if summary["drift"]:
        raise typer.Exit(1)


@dlq_app.command("peek")
def dlq_peek_command(
    queue: QueueArgument,
    max_messages: Annotated[int, typer.Option("--max", min=1, max=1000, help="Messages to show.")] = 10,
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Show a dead-letter queue's messages and why they are there, without consuming them."""
    name = _operate(partial(queue_key, queue))
    target = _operate(partial(resolve, stack, region))
    render_peek(out, _operate(partial(peek, target, name, limit=max_messages)), as_json)


@dlq_app.command("redrive")
@dlq_app.command("redrive")
def dlq_redrive_command(
    queue: QueueArgument,
    manual: Annotated[bool, typer.Option("--manual", help="Move the messages here, not by a move task.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the move task to finish.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the move task.")] = 600.0,
    stack: Stack = None,
    region: Region = None,
) -> None:
    """Move a dead-letter queue's messages back to its queue, losing and duplicating nothing."""
    name = _operate(partial(queue_key, queue))
    target = _operate(partial(resolve, stack, region))
    render_redrive(out, _operate(partial(redrive, target, name, manual=manual, wait=wait, timeout_s=timeout)))


from recount.local.commands import register as register_local  # noqa: E402 (commands on the app above)
from recount.local.commands import register_bench  # noqa: E402

register_local(app, out)
register_bench(app, out)


def main() -> None:
    app()
