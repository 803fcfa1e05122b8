"""B5's section of the report: a sweep over dirty workspaces."""

from __future__ import annotations

from recount.bench.b5_sweep import B5Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run
from shared.adapters.sqs import SEND_BATCH_CONCURRENCY

B5_TITLE = "B5 — a sweep over dirty workspaces"


def b5(outcome: B5Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B5_TITLE, outcome)
    return [
        f"## {B5_TITLE}",
        "",
        f"The sweep's database side over {outcome.scan_workspaces:,} dirty markers (the backlog query and every "
        f"keyset page): **{outcome.scan_seconds * 1000:.0f} ms in {outcome.scan_statements} statements**. The "
        f"whole sweep, sends included, over {outcome.workspaces:,} dirty workspaces:",
        "",
        "| dirty workspaces | time | PostgreSQL statements | SQS calls | enqueued |",
        "|---:|---:|---:|---:|---:|",
        f"| {outcome.workspaces:,} | {outcome.seconds:.2f} s | {outcome.postgres_statements} | "
        f"{outcome.sqs_calls} | {outcome.enqueued:,} |",
        "",
        f"Its `SendMessageBatch` calls go {SEND_BATCH_CONCURRENCY} at a time. The same sweep with its sends "
        f"answered at once in process took {outcome.seconds_without_sqs:.2f} s: "
        + (
            f"the sends (boto3's requests and moto's server, one Python process, answering them) are "
            f"{_percent(_share(outcome))} of the whole sweep's time."
            if outcome.seconds > 0
            else "no time to compare."
        ),
        "",
        *(
            [
                f"The whole sweep with sends was run over {outcome.workspaces:,} workspaces only, not over "
                f"{outcome.scan_workspaces:,}.",
                "",
            ]
            if outcome.workspaces < outcome.scan_workspaces
            else []
        ),
    ]


def _percent(share: float) -> str:
    """A share in percent, with as many decimals as keep a share that is neither all nor nothing from reading so."""
    if share <= 0 or share >= 1:
        return f"{share:.0%}"
    for places in range(4):
        text = f"{share:.{places}%}"
        if 0 < float(text.rstrip("%")) < 100:
            return text
    return "over 99.999%" if share > 0.5 else "under 0.001%"


def _share(outcome: B5Result) -> float:
    return max(0.0, 1 - outcome.seconds_without_sqs / outcome.seconds)
