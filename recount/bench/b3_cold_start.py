"""B3: cold start. Each handler imported in a fresh interpreter, and its first one-message batch, beside a
bare `python -c pass` and an eager import of every library the functions ship with."""

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
# Every module of every library a function's asset and layer carry, imported up front: what a handler
# would cost if it imported everything it ships with instead of what its path uses.
SHIPPED = ("aws_lambda_powertools", "aws_xray_sdk", "pydantic", "pydantic_settings", "pg8000", "scramp", "redis",
           "dotenv", "boto3")
EAGER = textwrap.dedent('''
    import importlib, pkgutil, warnings
    warnings.simplefilter("ignore")
    for name in {shipped!r}:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, name + "."):
            try:
                importlib.import_module(module.name)
            except Exception:
                pass  # an optional extra the functions do not ship (e.g. a Kafka or Datadog dependency)
''').format(shipped=SHIPPED)
_EAGER_TIMED = "import time\nstarted = time.perf_counter()\n{eager}\nprint((time.perf_counter() - started) * 1000)"
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
    label: str
    median_ms: float
    first_batch_ms: float | None = None


def _wall(code: str, environment: dict[str, str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True, capture_output=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _inside(code: str, environment: dict[str, str], runs: int) -> list[dict[str, float]]:
    """Run `code` in fresh interpreters; each prints its own figures (JSON or one number) last."""
    results = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        parsed = json.loads(output)
        results.append(parsed if isinstance(parsed, dict) else {"import_ms": float(parsed)})
    return results


def measure(environment: dict[str, str], runs: int, first_batch_events: dict[str, str]) -> list[B3Row]:
    """Times are taken inside each fresh interpreter and the bare start (`python -c pass`) added, so imports
    and first batches compare on the same footing. `first_batch_events`: handler -> a one-message event."""
    env = {**os.environ, **environment, "PYTHONPATH": str(ROOT)}
    bare = _wall("pass", env, runs)
    eager = statistics.median(r["import_ms"] for r in _inside(_EAGER_TIMED.format(eager=EAGER), env, runs)) + bare
    rows = [B3Row("python -c pass", bare), B3Row("eager import of every shipped library", eager)]
    for handler in HANDLERS:
        results = _inside(_FIRST_BATCH.format(handler=handler),
                          {**env, "BENCH_EVENT": first_batch_events[handler]}, runs)
        rows.append(B3Row(f"import functions.{handler}.handler",
                          statistics.median(r["import_ms"] for r in results) + bare,
                          statistics.median(r["total_ms"] for r in results) + bare))
    return rows
