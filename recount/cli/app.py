"""The typer app, its consoles, and how a command's expected errors become one line and an exit status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from shared.contracts.errors import RecountError

app = typer.Typer(
    help="recount: keep inbox counts and analytics fresh.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: typer's rich help loads rich.markdown and markdown_it, about 50 ms on every `--help` (B7).
    rich_markup_mode=None,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

# Options several commands share.
Stack = Annotated[
    str | None,
    typer.Option(
        "--stack", help="Act on this deployed stack (its CloudFormation outputs); default: the local runtime."
    ),
]
Region = Annotated[str | None, typer.Option("--region", help="The stack's AWS region.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {' '.join(message.split())}")
    raise typer.Exit(code)


def guarded(action: Callable[[], T]) -> T:
    """Run an action, turning every expected error into one line and a non-zero exit."""
    from pydantic import ValidationError  # imported when a command runs, not for --help

    try:
        return action()
    except RecountError as error:
        fail(str(error))
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"invalid setting {where}: {message}" if where else f"invalid settings: {message}", 2)


def operate(action: Callable[[], T]) -> T:
    """guarded, and a usage error (bad input, nothing done) exits with status 2."""
    from recount.commands.usage import UsageError

    def checked() -> T:
        try:
            return action()
        except UsageError as error:
            fail(str(error), 2)

    return guarded(checked)
