"""What the operator commands print: one line, a rich table or --json per result of recount/commands/.

Results go to stdout; progress bars and skipped inputs to stderr, so that stdout stays machine-readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from recount.commands.canary import CanaryReport
from recount.commands.preflight import Preflight
from recount.commands.verify import Verdict, VerifyResult

if TYPE_CHECKING:
    from recount.commands.backfill import BackfillReport
    from recount.commands.dead_letters.peek import Peek
    from recount.commands.dead_letters.redrive import Redrive
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


# --------------------------------------------------------------------------------------------------- status

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
    # One column per job, one row per field: narrow enough for any terminal, and every field of the blob shown.
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
    table.add_row(
        "status ttl s", *(str(job.statusTtlSeconds) if job.statusTtlSeconds is not None else "" for job in status.jobs)
    )
    console.print(table)


# ------------------------------------------------------------------------------------- sweep and backfill


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


# --------------------------------------------------------------------------------------------------- verify

_VERDICT_STYLE = {
    Verdict.OK: "green",
    Verdict.DRIFT: "bold red",
    Verdict.PENDING: "yellow",
    Verdict.BUSY: "cyan",
    Verdict.MISSING: "dim",
}


def render_verify_result(console: Console, result: VerifyResult) -> None:
    detail = f": {escape(result.detail)}" if result.detail else ""
    style = _VERDICT_STYLE[result.verdict]
    console.print(f"[{style}]{result.verdict.value}[/{style}] {result.clientId}{detail}")


def render_verify_summary(console: Console, summary: dict[str, int]) -> None:
    counts = ", ".join(f"{summary[verdict.value]} {verdict.value}" for verdict in Verdict)
    skipped = f"; skipped {summary['invalidIdsSkipped']} invalid clientId(s)" if summary["invalidIdsSkipped"] else ""
    console.print(f"{summary['workspaces']} workspace(s): {counts}{skipped}")


def render_verify_json(console: Console, results: list[VerifyResult], summary: dict[str, int]) -> None:
    console.print_json(data={"results": [asdict(result) for result in results], "summary": summary})


# ---------------------------------------------------------------------------------------------- dead letters


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


# --------------------------------------------------------------------------------------------------- preflight


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


# --------------------------------------------------------------------------------------------------- canary


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
