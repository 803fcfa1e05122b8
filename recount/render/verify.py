"""What `recount verify` prints: a line per workspace as its verdict comes, then a summary; or --json."""

from __future__ import annotations

from dataclasses import asdict

from rich.console import Console
from rich.markup import escape

from recount.commands.verify import Verdict, VerifyResult

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
