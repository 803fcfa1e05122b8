"""B3: cold start. Each handler imported in a fresh interpreter, and its first one-message batch (with real work:
a recompute, a sweep), beside a bare `python -c pass` and a usual Powertools handler module (its imports alone,
and with the objects such a module makes at import, clients excepted), interleaved run by run. Beside them, the
floor under any handler built on recount's mechanisms: what it must load and make before its first record."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("inbox_counts_recompute", "analytics_recompute", "sweeper")
# What a Powertools SQS handler with DynamoDB idempotency, Redis and PostgreSQL usually imports: the baseline.
STACK_IMPORTS = (
    "from aws_lambda_powertools import Logger, Metrics, Tracer",
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response",
    "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function",
    "import boto3",
    "import redis",
    "import pg8000.native",
    "import pydantic",
)
# What such a module makes at import, as Powertools' own examples do, clients excepted: recount's handlers make
# theirs on first use, so a client made at import here would weigh on one side only.
STACK_OBJECTS = (
    'logger, tracer, metrics = Logger(), Tracer(), Metrics(namespace="bench")',
    "processor = BatchProcessor(event_type=EventType.SQS)",
)
# The floor: what any handler on the mechanisms recount is built on (Powertools' Logger, Metrics and batch utility,
# idempotency on DynamoDB through boto3, redis, pg8000, pydantic) loads and makes before its first record: the
# usual module with no Tracer (recount's handlers import no X-Ray SDK when tracing is off), plus the one client an
# idempotent batch cannot do without. No work, no connection: a handler's first batch can only cost more.
FLOOR_IMPORTS = (
    "from aws_lambda_powertools import Logger, Metrics",
    *STACK_IMPORTS[1:],
)
FLOOR_OBJECTS = (
    'logger, metrics = Logger(), Metrics(namespace="bench")',
    "processor = BatchProcessor(event_type=EventType.SQS)",
    'dynamodb = boto3.session.Session(region_name="us-east-1").client("dynamodb")',
)
# The log line each handler writes when its first batch did its work (not a skip).
WORK_DONE = {"inbox_counts_recompute": "recomputed", "analytics_recompute": "recomputed", "sweeper": "inbox sweep"}
_STACK_TIMED = "import time\nstarted = time.perf_counter()\n{imports}\nprint((time.perf_counter() - started) * 1000)"
_FIRST_BATCH = textwrap.dedent("""
    import json, os, sys, time
    started = time.perf_counter()
    from functions.{handler}.handler import lambda_handler
    imported = time.perf_counter()
    event = json.loads(os.environ["BENCH_EVENT"])
    class Context:
        function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 60000
    response = lambda_handler(event, Context())
    done = time.perf_counter()
    print(json.dumps({{"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                      "failures": len(response.get("batchItemFailures", []))}}))
""")


@dataclass(frozen=True)
class B3Row:
    handler: str
    import_ms: float
    first_batch_ms: float
    failed_batches: int  # runs whose one record came back in batchItemFailures
    idle_batches: int = 0  # runs whose batch did not log its work (a skip): their timing is not a first batch


@dataclass(frozen=True)
class B3Result:
    runs: int
    bare_ms: float  # `python -c pass`, wall time
    stack_ms: float  # the usual handler module (imports and objects), timed inside the interpreter, plus bare_ms
    stack_imports_ms: float  # its imports alone, the same way
    handlers: list[B3Row]  # import and import + first batch, timed inside, plus bare_ms
    floor_ms: float = 0.0  # the floor (FLOOR_IMPORTS and FLOOR_OBJECTS), the same way; 0 when not measured

    def import_ratio(self, row: B3Row) -> float:
        """A handler's import over the usual handler module's, the bare interpreter start taken off both."""
        return self._over_stack(row.import_ms)

    def ratio(self, row: B3Row) -> float:
        """What the goal judges: a handler's import and first batch together over the usual handler module's
        import (whose clients are not even made yet), the bare interpreter start taken off both."""
        return self._over_stack(row.first_batch_ms)

    def _over_stack(self, ms: float) -> float:
        baseline = self.stack_ms - self.bare_ms
        return (ms - self.bare_ms) / baseline if baseline > 0 else 0.0

    @property
    def floor_ratio(self) -> float:
        """The floor over the usual handler module's import: below it, no handler on these mechanisms can go."""
        return self._over_stack(self.floor_ms) if self.floor_ms else 0.0

    @property
    def worst(self) -> B3Row:
        return max(self.handlers, key=self.ratio)


def _wall(code: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def _inside(code: str, environment: dict[str, str]) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints its own figures (JSON or one number) last, after the
    function's JSON log lines, whose messages come back under "logged"."""
    lines = (
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()
    )
    parsed = json.loads(lines[-1])
    figures = parsed if isinstance(parsed, dict) else {"import_ms": float(parsed)}
    return {**figures, "logged": [_message(line) for line in lines[:-1]]}


def _message(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return ""
    return str(record.get("message", "")) if isinstance(record, dict) else ""


def measure(environment: dict[str, str], runs: int, first_batch_events: Callable[[], dict[str, str]]) -> B3Result:
    """Times are taken inside each fresh interpreter and the bare start (`python -c pass`) added, so imports
    and first batches compare on the same footing. Each run starts the bare interpreter, the stack and every
    handler once, so a noisy moment falls on all of them. `first_batch_events()` gives each round's events
    (handler -> a one-message event with work to do), so no round replays a batch an earlier one did."""
    env = {**os.environ, **environment, "PYTHONPATH": str(ROOT)}
    stack_code = _STACK_TIMED.format(imports="\n".join((*STACK_IMPORTS, *STACK_OBJECTS)))
    imports_code = _STACK_TIMED.format(imports="\n".join(STACK_IMPORTS))
    floor_code = _STACK_TIMED.format(imports="\n".join((*FLOOR_IMPORTS, *FLOOR_OBJECTS)))
    bare: list[float] = []
    stack: list[float] = []
    imports: list[float] = []
    floor: list[float] = []
    handlers: dict[str, list[dict[str, Any]]] = {handler: [] for handler in HANDLERS}
    for _ in range(runs):
        events = first_batch_events()
        bare.append(_wall("pass", env))
        stack.append(_inside(stack_code, env)["import_ms"])
        imports.append(_inside(imports_code, env)["import_ms"])
        floor.append(_inside(floor_code, env)["import_ms"])
        for handler in HANDLERS:
            handlers[handler].append(
                _inside(_FIRST_BATCH.format(handler=handler), {**env, "BENCH_EVENT": events[handler]})
            )
    bare_ms = statistics.median(bare)
    return B3Result(
        runs,
        bare_ms,
        statistics.median(stack) + bare_ms,
        statistics.median(imports) + bare_ms,
        [
            B3Row(
                handler,
                statistics.median(r["import_ms"] for r in results) + bare_ms,
                statistics.median(r["total_ms"] for r in results) + bare_ms,
                sum(1 for r in results if r["failures"]),
                sum(1 for r in results if WORK_DONE[handler] not in r["logged"]),
            )
            for handler, results in handlers.items()
        ],
        statistics.median(floor) + bare_ms,
    )
