"""B3: cold start. Each handler imported in a fresh interpreter, and its first one-message batch, beside a
bare `python -c pass` and a usual Powertools handler module (its imports alone, and with the objects such a
module makes at import), interleaved run by run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

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
# What such a module makes at import, as Powertools' own examples do (the persistence layer makes its boto3 client).
STACK_OBJECTS = (
    "logger, tracer, metrics = Logger(), Tracer(), Metrics(namespace='bench')",
    "processor = BatchProcessor(event_type=EventType.SQS)",
    "persistence_layer = DynamoDBPersistenceLayer(table_name='bench-idempotency')",
)
_STACK_TIMED = "import time\nstarted = time.perf_counter()\n{imports}\nprint((time.perf_counter() - started) * 1000)"
_FIRST_BATCH = textwrap.dedent('''
    import json, os, sys, time
    started = time.perf_counter()
    from functions.{handler}.handler import lambda_handler
    imported = time.perf_counter()
    event = json.loads(os.environ["BENCH_EVENT"])
    class Context:
        function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 30000
    response = lambda_handler(event, Context())
    done = time.perf_counter()
    print(json.dumps({{"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                      "failures": len(response.get("batchItemFailures", []))}}))
''')


@dataclass(frozen=True)
class B3Row:
    handler: str
    import_ms: float
    first_batch_ms: float
    failed_batches: int  # runs whose one record came back in batchItemFailures


@dataclass(frozen=True)
class B3Result:
    runs: int
    bare_ms: float  # `python -c pass`, wall time
    stack_ms: float  # the usual handler module (imports and objects), timed inside the interpreter, plus bare_ms
    stack_imports_ms: float  # its imports alone, the same way
    handlers: list[B3Row]  # import and import + first batch, timed inside, plus bare_ms

    def ratio(self, row: B3Row) -> float:
        """A handler's import over the usual handler module's, the bare interpreter start taken off both."""
        baseline = self.stack_ms - self.bare_ms
        return (row.import_ms - self.bare_ms) / baseline if baseline > 0 else 0.0

    @property
    def worst(self) -> B3Row:
        return max(self.handlers, key=self.ratio)


def _wall(code: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def _inside(code: str, environment: dict[str, str]) -> dict[str, float]:
    """Run `code` in a fresh interpreter; it prints its own figures (JSON or one number) last."""
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    parsed = json.loads(output)
    return parsed if isinstance(parsed, dict) else {"import_ms": float(parsed)}


def measure(environment: dict[str, str], runs: int, first_batch_events: dict[str, str]) -> B3Result:
    """Times are taken inside each fresh interpreter and the bare start (`python -c pass`) added, so imports
    and first batches compare on the same footing. Each run starts the bare interpreter, the stack and every
    handler once, so a noisy moment falls on all of them. `first_batch_events`: handler -> a one-message event."""
    env = {**os.environ, **environment, "PYTHONPATH": str(ROOT)}
    stack_code = _STACK_TIMED.format(imports="\n".join((*STACK_IMPORTS, *STACK_OBJECTS)))
    imports_code = _STACK_TIMED.format(imports="\n".join(STACK_IMPORTS))
    bare: list[float] = []
    stack: list[float] = []
    imports: list[float] = []
    handlers: dict[str, list[dict[str, float]]] = {handler: [] for handler in HANDLERS}
    for _ in range(runs):
        bare.append(_wall("pass", env))
        stack.append(_inside(stack_code, env)["import_ms"])
        imports.append(_inside(imports_code, env)["import_ms"])
        for handler in HANDLERS:
            handlers[handler].append(_inside(_FIRST_BATCH.format(handler=handler),
                                             {**env, "BENCH_EVENT": first_batch_events[handler]}))
    bare_ms = statistics.median(bare)
    return B3Result(runs, bare_ms, statistics.median(stack) + bare_ms, statistics.median(imports) + bare_ms,
                    [B3Row(handler, statistics.median(r["import_ms"] for r in results) + bare_ms,
                           statistics.median(r["total_ms"] for r in results) + bare_ms,
                           sum(1 for r in results if r["failures"]))
                     for handler, results in handlers.items()])
