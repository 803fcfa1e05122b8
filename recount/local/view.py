"""The live terminal view of the local runtime: queues, functions and freshness."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from recount.local.pipeline import LocalPipeline
from shared.contracts.metrics import Metric


def render(pipeline: LocalPipeline, title: str = "recount local") -> Group:
    queues = Table(title=title, title_justify="left", expand=False)
    for column in ("queue", "visible", "in flight", "dead-lettered"):
        queues.add_column(column, justify="right" if column != "queue" else "left")
    for queue, (visible, in_flight, dead) in pipeline.queue_depths().items():
        queues.add_row(queue, str(visible), str(in_flight), f"[red]{dead}[/red]" if dead else "0")
    functions = Table(expand=False)
    for column in ("function", "environments", "running", "succeeded", "failed", "skipped", "dead-lettered"):
        functions.add_column(column, justify="right" if column != "function" else "left")
    for name, environments in pipeline.environments.items():
        counts = pipeline.stats.counts[name]
        skipped = sum(
            counts[m.value]
            for m in (
                Metric.JOBS_SKIPPED_DUPLICATE,
                Metric.JOBS_SKIPPED_COALESCED,
                Metric.JOBS_SKIPPED_CLEAN,
                Metric.JOBS_SKIPPED_DISABLED,
            )
        )
        functions.add_row(
            name,
            str(len(environments.handlers)),
            str(environments.running),
            str(counts[Metric.JOBS_SUCCEEDED.value]),
            str(counts[Metric.JOBS_FAILED.value]),
            str(skipped),
            str(counts[Metric.JOBS_DEAD_LETTERED.value]),
        )
    freshness = pipeline.stats.freshness()
    summary = (
        f"freshness (dirty mark to fresh, {freshness['count']} recomputes): "
        f"p50 {freshness['p50'] / 1000:.2f} s, p95 {freshness['p95'] / 1000:.2f} s, "
        f"max {freshness['max'] / 1000:.2f} s"
    )
    return Group(queues, functions, summary)
