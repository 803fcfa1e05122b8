"""What the workspace commands print (recompute, send, status, sweep, backfill): one line, a rich table or --json.

Results go to stdout; progress bars and skipped inputs to stderr, so that stdout stays machine-readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from recount.commands.backfill import BackfillReport
    from recount.commands.send import SentEvent
    from recount.commands.status import WorkspaceStatus
    from shared.domain.recompute import RecomputeOutcome
    from shared.domain.sweep import SweepReport


def render_recompute(console: Console, outcome: RecomputeOutcome, as_json: bool) -> None:
    if as_json:
        console.print_json(
            data={
                "job": outcome.job.value,
                "clientId": outcome.client_id,
                "workspaceExists": outcome.workspace_exists,
                "changed": outcome.changed,
                "rowsWritten": outcome.rows_written,
                "rowsDeleted": outcome.rows_deleted,
                "version": outcome.version,
                "markerCleared": outcome.marker_cleared,
                "durationMs": outcome.duration_ms,
            }
        )
    elif not outcome.workspace_exists:
        console.print(f"{outcome.job.value} {outcome.client_id}: skipped, no such workspace")
    else:
        change = "changed" if outcome.changed else "unchanged"
        marker = ", dirty marker cleared" if outcome.marker_cleared else ""
        console.print(
            f"{outcome.job.value} {outcome.client_id}: {change}, {outcome.rows_written} rows written, "
            f"{outcome.rows_deleted} deleted, version {outcome.version}{marker} "
            f"({outcome.duration_ms} ms)"
        )


def render_sent(console: Console, sent: SentEvent, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(sent))
        return
    workspace = f" for {sent.clientId}" if sent.clientId else ""
    console.print(f"sent {sent.event}{workspace} to {sent.queue}: message {sent.messageId} (event {sent.eventId})")


_BLOB_FIELDS = (
    "status",
    "attempt",
    "startedAt",
    "finishedAt",
    "durationMs",
    "lastError",
    "reason",
    "changed",
    "rowsWritten",
    "source",
    "requestId",
    "messageId",
    "changeStamp",
    "version",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = escape(str(value))
    return {"succeeded": "[green]succeeded[/green]", "failed": "[red]failed[/red]"}.get(text, text)


def render_status(console: Console, status: WorkspaceStatus, as_json: bool) -> None:
    if as_json:
        console.print_json(data=asdict(status))
        return
    _render_workspace(console, status)
    console.print(_jobs_table(status))


def _render_workspace(console: Console, status: WorkspaceStatus) -> None:
    """What PostgreSQL says: whether the workspace exists, its dirty mark, when each job last computed."""
    if not status.workspaceExists:
        console.print(f"[yellow]workspace {status.clientId} does not exist in PostgreSQL[/yellow]")
    marker = (
        f"dirty for {status.dirtyAgeSeconds:.1f} s (since {status.dirtyAt}, generation {status.dirtyGeneration})"
        if status.dirtyAt is not None
        else "clean (no dirty marker)"
    )
    console.print(f"workspace {status.clientId}: {marker}")
    console.print(
        f"inbox counts computed at {status.countsComputedAt or 'never'}; "
        f"analytics aggregates computed at {status.aggregatesComputedAt or 'never'}"
    )


def _jobs_table(status: WorkspaceStatus) -> Table:
    """What Redis says: one column per job, one row per field; narrow enough for any terminal, and every field
    of the status blob shown (the known ones in their order, then any other)."""
    table = Table("", *(job.job for job in status.jobs))
    table.add_row("cache version", *(str(job.version) if job.version is not None else "-" for job in status.jobs))
    blobs = [job.status or {} for job in status.jobs]
    fields = [name for name in _BLOB_FIELDS if any(blob.get(name) is not None for blob in blobs)]
    fields += sorted({name for blob in blobs for name in blob} - set(_BLOB_FIELDS) - {"clientId", "jobName"})
    if not fields:
        table.add_row("status", *("[dim]none[/dim]" for _ in status.jobs))
    for name in fields:
        label = "version written" if name == "version" else name
        table.add_row(label, *(_cell(blob.get(name)) for blob in blobs))
    table.add_row("status ttl s", *(_cell(job.statusTtlSeconds) for job in status.jobs))
    return table


def render_sweep(console: Console, kind: str, report: SweepReport) -> None:
    if kind == "inbox":
        console.print(
            f"inbox sweep: enqueued {report.enqueued} recompute(s) "
            f"({report.enqueued_dirty} dirty, {report.enqueued_snoozed} with expired snoozes); "
            f"backlog {report.backlog} dirty workspace(s), oldest {report.oldest_age_s:.1f} s"
        )
    else:
        console.print(f"analytics sweep: enqueued {report.enqueued_slo_misses} recompute(s) for SLO misses")
    if report.invalid_count:
        more = report.invalid_count - len(report.invalid_ids)
        render_skipped(console, list(report.invalid_ids))
        if more > 0:
            console.print(f"[yellow]skipped[/yellow] {more} more invalid clientId(s)")


def render_skipped(console: Console, invalid: list[str]) -> None:
    """The invalid ids found in PostgreSQL, one line each: reported, and left out."""
    for bad in invalid:
        console.print(f"[yellow]skipped[/yellow] invalid clientId {escape(repr(bad))}")


@contextmanager
def backfill_progress(console: Console, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar while the backfill sends; yields the callback that advances it by the events sent."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("backfill", total=total)
        yield lambda n: bar.advance(task, n)


def render_backfill(console: Console, report: BackfillReport, *, analytics: bool, invalid: list[str]) -> None:
    event = "analytics.aggregates.recompute" if analytics else "inbox.counts.recompute"
    skipped = f"; skipped {len(invalid)} invalid clientId(s)" if invalid else ""
    console.print(
        f"sent {report.sent} {event} event(s) to {report.queue} in {report.seconds:.1f} s "
        f"(request {report.requestId}){skipped}"
    )
