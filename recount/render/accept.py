"""What `recount accept` prints: one row per claim, proven in this run or not, with its figure and threshold."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from recount.commands.accept import AcceptanceReport


def render_acceptance(console: Console, report: AcceptanceReport, as_json: bool) -> None:
    window = report.window
    if as_json:
        console.print_json(
            data={
                "stack": report.stack,
                "stage": report.stage,
                "window": [window.start.isoformat(), window.end.isoformat()] if window else None,
                "claims": [
                    {
                        "claim": c.name,
                        "proven": c.proven,
                        "figure": c.figure,
                        "threshold": c.threshold,
                        "note": c.note,
                    }
                    for c in report.claims
                ],
                "misses": [c.name for c in report.misses],
            }
        )
        return
    span = f"{window.start:%Y-%m-%d %H:%M}-{window.end:%H:%M} UTC" if window else "no window"
    table = Table(title=f"acceptance of {report.stack} (stage {report.stage}), {span}", title_justify="left")
    for column in ("claim", "result", "figure", "threshold", "note"):
        table.add_column(column, overflow="fold")
    for claim in report.claims:
        result = "[green]proven in this run[/green]" if claim.proven else "[red]NOT PROVEN[/red]"
        table.add_row(claim.name, result, claim.figure, claim.threshold, claim.note)
    console.print(table)
    misses = report.misses
    if misses:
        console.print(f"[red]{len(misses)} claim(s) not proven:[/red] {'; '.join(c.name for c in misses)}")
    else:
        console.print(f"[green]all {len(report.claims)} claims proven on {report.stack}[/green]")
