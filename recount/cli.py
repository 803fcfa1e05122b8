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

from recount.migrations import migrate as apply_migrations
from shared.client_id import validate_client_id
from shared.errors import BusyError, RecountError
from shared.events import json_schema
from shared.keys import JobName
from shared.recompute import Recompute, RecomputeOutcome
from shared.settings import RecomputeSettings, StoreSettings
from shared.status import JobContext
from shared.stores import open_cache, open_database

app = typer.Typer(help="recount: keep inbox counts and analytics fresh.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
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
def migrate(recount_only: Annotated[bool, typer.Option(
        help="Only the tables recount owns (for production, where the app's tables exist).")] = False) -> None:
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
            return [_run_waiting(recompute, client_id, JobContext(request_id, "manual"), wait_s)
                    for client_id in client_ids]
        finally:
            db.close()
            cache.close()

    for outcome in guarded(run):
        if as_json:
            out.print_json(data={"job": outcome.job.value, "clientId": outcome.client_id,
                                 "workspaceExists": outcome.workspace_exists, "changed": outcome.changed,
                                 "rowsWritten": outcome.rows_written, "rowsDeleted": outcome.rows_deleted,
                                 "version": outcome.version, "markerCleared": outcome.marker_cleared,
                                 "durationMs": outcome.duration_ms})
        elif not outcome.workspace_exists:
            out.print(f"{outcome.job.value} {outcome.client_id}: skipped, no such workspace")
        else:
            change = "changed" if outcome.changed else "unchanged"
            marker = ", dirty marker cleared" if outcome.marker_cleared else ""
            out.print(f"{outcome.job.value} {outcome.client_id}: {change}, {outcome.rows_written} rows written, "
                      f"{outcome.rows_deleted} deleted, version {outcome.version}{marker} "
                      f"({outcome.duration_ms} ms)")


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


def main() -> None:
    app()
