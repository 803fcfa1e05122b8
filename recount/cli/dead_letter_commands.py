"""dlq peek and dlq redrive, on the dead-letter queues of the local runtime or of a stack (--stack NAME)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from recount.cli.app import JsonOutput, Region, Stack, operate, out

dlq_app = typer.Typer(help="Inspect and redrive the dead-letter queues.", no_args_is_help=True)

QueueArgument = Annotated[str, typer.Argument(help="counts, counts_high (or counts-high), analytics or sweep.")]


@dlq_app.command("peek")
def dlq_peek_command(
    queue: QueueArgument,
    max_messages: Annotated[int, typer.Option("--max", min=1, max=1000, help="Messages to show.")] = 10,
    stack: Stack = None,
    region: Region = None,
    as_json: JsonOutput = False,
) -> None:
    """Show a dead-letter queue's messages and why they are there, without consuming them."""
    from recount.commands.connections import target as resolve
    from recount.commands.dead_letters.peek import peek
    from recount.commands.dead_letters.queues import queue_key
    from recount.render.dead_letters import render_peek

    name = operate(partial(queue_key, queue))
    target = operate(partial(resolve, stack, region))
    render_peek(out, operate(partial(peek, target, name, limit=max_messages)), as_json)


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
    from recount.commands.connections import target as resolve
    from recount.commands.dead_letters.queues import queue_key
    from recount.commands.dead_letters.redrive import redrive
    from recount.render.dead_letters import render_redrive

    name = operate(partial(queue_key, queue))
    target = operate(partial(resolve, stack, region))
    render_redrive(out, operate(partial(redrive, target, name, manual=manual, wait=wait, timeout_s=timeout)))
