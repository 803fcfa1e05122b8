"""B3's section of the report: a handler's import and first batch beside a usual Powertools handler module."""

from __future__ import annotations

from recount.bench.b3_cold_start import FLOOR_IMPORTS, FLOOR_OBJECTS, STACK_IMPORTS, STACK_OBJECTS, B3Result
from recount.bench.outcome import NotRun
from recount.bench.sections import not_run, verdict

B3_TITLE = "B3 — cold start"
B3_GOAL_RATIO = 0.6  # a handler's import and first batch over a usual Powertools handler module's import


def b3(outcome: B3Result | NotRun) -> list[str]:
    if isinstance(outcome, NotRun):
        return not_run(B3_TITLE, outcome)
    worst = outcome.worst
    failed = sum(r.failed_batches for r in outcome.handlers)
    idle = sum(r.idle_batches for r in outcome.handlers)
    return [
        f"## {B3_TITLE}",
        "",
        f"Fresh interpreters, {outcome.runs} rounds; each round starts `python -c pass`, the usual handler module "
        "(with its objects, then its imports alone) and every handler once, in that order; medians. Imports and "
        "first batches are timed inside the interpreter and the bare start (`python -c pass`, wall time) added. "
        "*first batch* is import plus one one-message batch against local PostgreSQL, Redis and moto's server "
        "(connections and clients made on the way), each round with work of its own: a new dirty workspace to "
        "recompute, a new analytics event, a sweep. The *usual handler module* is the top of a usual Powertools "
        "SQS handler with DynamoDB idempotency, Redis and PostgreSQL: these imports, then the objects such a "
        "module makes at import as Powertools' own examples do, clients excepted (recount's handlers make theirs "
        "on first use, so they are in its first batch, not its import):",
        "",
        "```python",
        *STACK_IMPORTS,
        "",  # as ruff format writes it: the report's code block is checked like the code
        *STACK_OBJECTS,
        "```",
        "",
        "| what | import (ms) | import + first batch (ms) | import ÷ usual module | import + first batch ÷ usual "
        "module |",
        "|---|---:|---:|---:|---:|",
        f"| `python -c pass` | {outcome.bare_ms:.0f} |  |  |  |",
        f"| the usual stack's imports alone | {outcome.stack_imports_ms:.0f} |  |  |  |",
        f"| the usual handler module | {outcome.stack_ms:.0f} |  |  |  |",
        *(
            [f"| the floor (below) | {outcome.floor_ms:.0f} |  | {outcome.floor_ratio:.2f} |  |"]
            if outcome.floor_ms
            else []
        ),
        *[
            f"| `import functions.{r.handler}.handler` | {r.import_ms:.0f} | {r.first_batch_ms:.0f} | "
            f"{outcome.import_ratio(r):.2f} | {outcome.ratio(r):.2f} |"
            for r in outcome.handlers
        ],
        "",
        *(
            [f"{failed} of the {outcome.runs * len(outcome.handlers)} first batches reported their record failed.", ""]
            if failed
            else []
        ),
        *(
            [
                f"{idle} of the {outcome.runs * len(outcome.handlers)} first batches did not log their work (a skip): "
                "the first-batch column includes them.",
                "",
            ]
            if idle
            else []
        ),
        "Ratios subtract the bare interpreter start from both sides. Goal: a handler's import and first batch "
        f"together at most {B3_GOAL_RATIO} x the usual handler module's import — the highest here "
        f"**{outcome.ratio(worst):.2f}** "
        f"(`{worst.handler}`) ({verdict(outcome.ratio(worst) <= B3_GOAL_RATIO)}).",
        "",
        *(_floor(outcome) if outcome.floor_ms else []),
    ]


def _floor(outcome: B3Result) -> list[str]:
    """The floor and, when the goal is below it, that no handler on these mechanisms can meet it."""
    below = outcome.floor_ratio > B3_GOAL_RATIO
    return [
        "*The floor* is what any handler on the mechanisms recount is built on (Powertools' Logger, Metrics and "
        "batch utility, idempotency on DynamoDB through boto3, redis, pg8000, pydantic) loads and makes before its "
        "first record: the usual module without a Tracer (recount's handlers import no X-Ray SDK when tracing is "
        "off), plus the one client an idempotent batch cannot do without; no connection, no work:",
        "",
        "```python",
        *FLOOR_IMPORTS,
        "",
        *FLOOR_OBJECTS,
        "```",
        "",
        f"It takes **{outcome.floor_ratio:.2f}x** the usual module's import"
        + (
            f", above the goal of {B3_GOAL_RATIO}: no handler that keeps these mechanisms can meet it. Meeting it "
            "would mean taking boto3 off the first batch (idempotency on a store other than DynamoDB) and Powertools' "
            "batch utility or pydantic off the import."
            if below
            else "."
        ),
        "",
    ]
