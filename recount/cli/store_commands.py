"""migrate and recompute, on the stores the environment names (DATABASE_URL, REDIS_URL); schema and configuration,
the committed references (the event contract, docs/configuration.md)."""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from recount.cli.app import fail, guarded, out

if TYPE_CHECKING:
    from shared.contracts.keys import JobName


recompute_app = typer.Typer(help="Recompute workspaces now (waits for a running recompute).", no_args_is_help=True)

ClientIds = Annotated[list[str], typer.Option("--client-id", help="Workspace id; repeat for several.")]
Wait = Annotated[float, typer.Option("--wait", help="Seconds to wait for a running recompute.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per workspace.")]


def migrate(
    recount_only: Annotated[
        bool, typer.Option(help="Only the tables recount owns (for production, where the app's tables exist).")
    ] = False,
    with_triggers: Annotated[
        bool, typer.Option(help="Also create the dirty triggers: the database marks what the app changes.")
    ] = False,
    drop_triggers: Annotated[bool, typer.Option(help="Remove the dirty triggers (the marks made stay).")] = False,
) -> None:
    """Create the schema in DATABASE_URL (idempotent); the dirty triggers only when asked."""
    from recount.commands.connections import environment_clients
    from recount.migrations import migrate as apply_migrations
    from shared.adapters.postgres import PostgresDatabase

    if with_triggers and drop_triggers:
        fail("choose one of --with-triggers and --drop-triggers", 2)
    triggers = True if with_triggers else False if drop_triggers else None

    def run() -> list[str]:
        clients = environment_clients(redis=False)
        try:
            db = clients.db
            assert isinstance(db, PostgresDatabase)  # built from settings; migrations open their own transactions
            return apply_migrations(db, recount_only=recount_only, triggers=triggers)
        finally:
            clients.close()

    for name in guarded(run):
        out.print(f"applied {name}")


def schema() -> None:
    """Print the JSON Schema of the event envelope."""
    from shared.contracts.events import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")


def configuration() -> None:
    """Print docs/configuration.md: every setting, the stage settings and the time budget, from their models."""
    from recount.render.configuration import configuration_reference

    sys.stdout.write(configuration_reference())


def _recompute(job: JobName, client_ids: list[str], wait_s: float, as_json: bool) -> None:
    from recount.commands.recompute import recompute
    from recount.render.workspace import render_recompute
    from shared.contracts.client_id import validate_client_id

    for client_id in client_ids:  # every id checked before any I/O
        guarded(partial(validate_client_id, client_id))
    for outcome in guarded(partial(recompute, job, client_ids, wait_s)):
        render_recompute(out, outcome, as_json)


@recompute_app.command("inbox-counts")
def recompute_inbox_counts(client_id: ClientIds, wait: Wait = 10.0, as_json: AsJson = False) -> None:
    """Recompute the inbox counts of each workspace."""
    from shared.contracts.keys import JobName

    _recompute(JobName.INBOX_COUNTS, client_id, wait, as_json)


@recompute_app.command("analytics-aggregates")
def recompute_analytics_aggregates(client_id: ClientIds, wait: Wait = 10.0, as_json: AsJson = False) -> None:
    """Recompute the analytics daily aggregates of each workspace (ANALYTICS_AGGREGATES_ENABLED=true)."""
    from shared.contracts.keys import JobName

    _recompute(JobName.ANALYTICS_AGGREGATES, client_id, wait, as_json)
