"""What `recount dead-letters peek` and `redrive` print."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from recount.commands.dead_letters.peek import Peek
    from recount.commands.dead_letters.redrive import Redrive


def render_peek(console: Console, result: Peek, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(result))
        return
    console.print(
        f"{result.queue} dead-letter queue: {result.approximateDepth} message(s); "
        f"showing {len(result.messages)}, left in the queue"
    )
    if not result.messages:
        return
    table = Table("message id", "age s", "receives", "event", "clientId", "reason")
    for message in result.messages:
        event = escape(message.event or "?") + ("" if message.valid else " [red](invalid)[/red]")
        table.add_row(
            message.messageId,
            f"{message.ageSeconds:.0f}",
            str(message.receiveCount),
            event,
            escape(message.clientId or "-"),
            escape(message.reason),
        )
    console.print(table)


def render_redrive(console: Console, result: Redrive) -> None:
    if result.method == "move-task":
        console.print(
            f"{result.queue}: move task {result.taskHandle} {(result.taskStatus or '').lower()}, "
            f"{result.moved} message(s) moved back to {result.queue}"
        )
        return
    console.print(
        f"{result.queue}: moved {result.moved} message(s) from the dead-letter queue back to "
        f"{result.queue} (manual move: {result.fallbackReason})"
    )
    if result.invalid:
        console.print(
            f"[yellow]{result.invalid} of them can never succeed (invalid): the functions will "
            "dead-letter them again[/yellow]"
        )
    if result.duplicatesDeleted:
        console.print(f"{result.duplicatesDeleted} message(s) seen again after their send were deleted, not resent")
    if result.leftForLater:
        console.print(
            f"{result.leftForLater} message(s) dead-lettered while the move ran were left for the next redrive"
        )
