"""python -m recount: the operator's commands, on the same code path as the functions.

app.py holds the typer app and turns a command's expected errors into one line and an exit status; the commands
are in store_commands.py (migrate, schema, configuration, recompute), operator_commands.py (send, status, sweep,
backfill, verify, canary), dead_letter_commands.py (dlq peek|redrive), deploy_commands.py (preflight, accept) and
recount/local/commands.py (local, demo, bench), and are registered below, in the order --help lists them. Their
logic is in recount/commands/, what they print in recount/render/.
"""

from __future__ import annotations

from recount.cli import dead_letter_commands, deploy_commands, operator_commands, store_commands
from recount.cli.app import app, out
from recount.local.commands import register as register_local
from recount.local.commands import register_bench

__all__ = ["app", "main"]

app.command()(store_commands.migrate)
app.command()(store_commands.schema)
app.command()(store_commands.configuration)
app.add_typer(store_commands.recompute_app, name="recompute")
app.command("send")(operator_commands.send_command)
app.command("status")(operator_commands.status_command)
app.command("sweep")(operator_commands.sweep_command)
app.command("backfill")(operator_commands.backfill_command)
app.command("verify")(operator_commands.verify_command)
app.command("canary")(operator_commands.canary_command)
app.add_typer(dead_letter_commands.dlq_app, name="dlq")
app.command("preflight")(deploy_commands.preflight_command)
app.command("accept")(deploy_commands.accept_command)
register_local(app, out)
register_bench(app, out)


def main() -> None:
    app()
