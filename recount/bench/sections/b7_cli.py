"""B7's section of the report: how fast the operator commands start."""

from __future__ import annotations

from recount.bench.b7_cli import B7Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B7_TITLE = "B7 — operator commands start"
B7_GOAL_RATIO = 2.5  # a command's --help over `python -c "import typer, rich"`


def b7(outcome: B7Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B7_TITLE, outcome)
    return [
        f"## {B7_TITLE}",
        "",
        f'Each command in a fresh interpreter, beside `python -c "import typer, rich"`, interleaved; medians of '
        f"{outcome.runs} runs of the wall time (the interpreter's own start included on both sides).",
        "",
        "| command | median | over import typer, rich |",
        "|---|---:|---:|",
        f'| `python -c "import typer, rich"` | {outcome.baseline_ms:.1f} ms | 1.00 |',
        *(f"| `{row.command}` | {row.median_ms:.1f} ms | {row.ratio:.2f} |" for row in outcome.rows),
        *(f"| *{row.command}* | {row.median_ms:.1f} ms | {row.ratio:.2f} |" for row in outcome.references),
        "",
        f"Goal: at most {B7_GOAL_RATIO}x — **{verdict(outcome.worst.ratio <= B7_GOAL_RATIO)}** (worst: "
        f"`{outcome.worst.command}`, {outcome.worst.ratio:.2f}x).{_over_bare_app(outcome)}",
        "",
    ]


def _over_bare_app(outcome: B7Result) -> str:
    """recount's commands over the bare typer app's help of the same kind: what recount itself adds."""
    if len(outcome.references) < 2 or len(outcome.rows) < 2:
        return ""
    root = outcome.rows[0].median_ms / outcome.references[0].median_ms
    command = max(row.median_ms for row in outcome.rows[1:]) / outcome.references[1].median_ms
    return (
        f" The bare typer app already takes {outcome.references[0].ratio:.2f}x and {outcome.references[1].ratio:.2f}x:"
        f" over it, `recount --help` takes {root:.2f}x and the slowest command's --help {command:.2f}x."
    )
