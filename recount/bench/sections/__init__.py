"""The report's sections, one module per benchmark: every figure and claim built from the run's own results."""

from __future__ import annotations

from recount.bench.outcome import NotRun


def not_run(title: str, outcome: NotRun) -> list[str]:
    return [f"## {title}", "", f"**Not run** in this run: {outcome.reason}", ""]


def verdict(met: bool) -> str:
    return "met" if met else "missed"
