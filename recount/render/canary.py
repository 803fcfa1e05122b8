"""What `recount canary` prints: a live line on stderr while it runs, then its report against the thresholds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from recount.commands.canary import CanaryReport


@contextmanager
def canary_view(console: Console, *, enabled: bool) -> Iterator[Callable[[CanaryReport], None]]:
    """A live line of the canary's progress on stderr (nothing when not enabled)."""
    if not enabled:
        yield lambda _: None
        return
    from rich.live import Live

    with Live("", console=console, refresh_per_second=4, transient=True) as live:

        def update(report: CanaryReport) -> None:
            fresh = report.freshness()
            live.update(
                f"canary on {report.target}: {len(report.probes)} sent, {len(report.probes) - report.unfinished} "
                f"finished, p95 {fresh['p95']:.0f} ms, oldest wait {report.oldest_backlog_s:.1f} s"
            )

        yield update


def render_canary(console: Console, report: CanaryReport, as_json: bool) -> None:
    fresh = report.freshness()
    problems = report.problems()
    if as_json:
        console.print_json(
            data={
                "target": report.target,
                "rate": report.rate,
                "durationS": report.duration_s,
                "events": len(report.probes),
                "achievedRate": round(report.achieved_rate, 2),
                "recomputed": report.count("succeeded"),
                "skipped": report.count("skipped"),
                "cleared": report.count("cleared"),
                "retriedAttempts": len(report.retried),
                "unfinished": report.unfinished,
                "freshnessMs": fresh,
                "oldestBacklogS": round(report.oldest_backlog_s, 2),
                "deadLetters": report.dead_letters,
                "thresholds": asdict(report.thresholds),
                "problems": problems,
            }
        )
        return
    table = Table(title=f"canary on {report.target}: {report.rate:g} events/s for {report.duration_s:g} s")
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("events sent", f"{len(report.probes)} ({report.achieved_rate:.1f}/s)"),
        ("recomputed / skipped", f"{report.count('succeeded')} / {report.count('skipped')}"),
        ("served, seen by the mark's clearing", f"{report.count('cleared')}"),
        ("failed attempts, retried by the queue", f"{len(report.retried)}"),
        ("never finished", f"{report.unfinished}"),
        ("freshness p50 / p95 / max", f"{fresh['p50']:.0f} / {fresh['p95']:.0f} / {fresh['max']:.0f} ms"),
        ("p95 threshold", f"{report.thresholds.max_freshness_p95_ms:.0f} ms"),
        (
            "oldest wait / backlog threshold",
            f"{report.oldest_backlog_s:.1f} / {report.thresholds.max_backlog_age_s:.0f} s",
        ),
        ("dead letters", f"{report.dead_letters}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for problem in problems:
        console.print(f"[red]over:[/red] {escape(problem)}")
    if not problems:
        console.print("[green]held:[/green] every threshold")
