"""What `recount preflight` prints: a table of its checks, or --json."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from recount.commands.preflight import Preflight


def render_preflight(console: Console, report: Preflight, as_json: bool) -> None:
    if as_json:
        console.print_json(
            data={
                "stage": report.stage,
                "account": report.account,
                "region": report.region,
                "checks": [asdict(check) for check in report.checks],
                "blockers": len(report.blockers),
            }
        )
        return
    table = Table(title=f"preflight: stage {report.stage}, account {report.account}, {report.region}")
    table.add_column("check")
    table.add_column("")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        mark = "[green]ok[/green]" if check.passed else "[red]blocks[/red]"
        table.add_row(check.name, mark, Text(check.detail))  # Text: an ARN's ":secret:" is no emoji code
    console.print(table)
