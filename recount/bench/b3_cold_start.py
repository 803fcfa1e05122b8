"""B3: cold start, on equal terms. Each handler imported in a fresh interpreter and its first one-message batch
run (with real work: a recompute, a sweep), beside the floor (`b3_floor_handler`: the mechanisms recount is built
on, and nothing of recount's, doing the inbox handler's I/O), a bare `python -c pass` and a usual Powertools
handler module's import. All of it twice, with the same tracing on every side: traced, as the stages deploy the
functions, and with tracing off; interleaved run by run, medians."""

from __future__ import annotations

import compileall
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

from aws_lambda_powertools.shared import constants

from shared.adapters.postgres_session import PostgresSession
from shared.contracts.keys import JobName
from shared.contracts.powertools_env import TRACER_DISABLED_ENV
from shared.contracts.settings import EnvVar
from shared.contracts.store_settings import StoreSettings
from shared.domain.passes import STATE_RULES, STATEMENT_OF, Pass, lock_parameters
from shared.domain.recompute import GENERIC_PLANS_BEGIN, LOCK_CLASS, LOCK_QUERY, QUERY_FILE
from shared.queries import QUERIES_DIR

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("inbox_counts_recompute", "analytics_recompute", "sweeper")
FLOOR = "floor"
# The floor loaded as recount's handlers load (shared/coldstart.py): the garbage collector paused while the module
# loads, then what it loaded frozen. For reading: the goal's floor holds no recount code, and the pause is recount's.
PAUSED_FLOOR = "floor, collector paused"
JUDGED = "inbox_counts_recompute"  # the handler whose first batch's I/O the floor does: the goal judges it
# In each round the floor goes first, just before the handler it is judged against; the paused floor last, so
# that the goal's floor and the handlers keep the places they had before it was measured.
MODULES = {
    FLOOR: "recount.bench.b3_floor_handler",
    **{handler: f"functions.{handler}.handler" for handler in HANDLERS},
    PAUSED_FLOOR: "recount.bench.b3_floor_handler",
}
# The log line each first batch writes when it did its work (not a skip).
WORK_DONE = {
    FLOOR: "floor batch done",
    PAUSED_FLOOR: "floor batch done",
    "inbox_counts_recompute": "recomputed",
    "analytics_recompute": "recomputed",
    "sweeper": "inbox sweep",
}
FLOOR_POSTGRES = "B3_FLOOR_POSTGRES"  # what the floor sends PostgreSQL besides the record's workspace (floor_postgres)
SETTINGS = (True, False)  # traced (what the stages deploy: StageConfig.tracing defaults to on), then tracing off
# What Lambda sets that changes what a side does: its task root (Powertools and shared.telemetry trace only inside it)
# and its name (recount's handlers then make their store adapters while they load: shared/wiring/clients.py). Traced,
# a sampled request's X-Ray header too; segments go to the SDK's default daemon on loopback: UDP, nothing waits.
_NAME = "bench"  # the first batch's context gives it too (_FIRST_BATCH)
FUNCTION_NAME = {constants.LAMBDA_FUNCTION_NAME_ENV: _NAME}
TRACE_HEADER = {"_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}

# The top of a usual Powertools SQS handler with DynamoDB idempotency, Redis and PostgreSQL, for reading beside
# recount's imports: its imports, then the objects such a module makes at import as Powertools' own examples do,
# clients excepted. Traced, it makes a Tracer (which loads the X-Ray SDK); with tracing off none, as recount's
# handlers and the floor.
_USUAL_IMPORTS = (
    "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response",
    "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function",
    "import boto3",
    "import redis",
    "import pg8000.native",
    "import pydantic",
)
_PROCESSOR = "processor = BatchProcessor(event_type=EventType.SQS)"
_TIMED = "import time\nstarted = time.perf_counter()\n{code}\nprint((time.perf_counter() - started) * 1000)"
_FIRST_BATCH = textwrap.dedent("""
    import json, os, sys, time
    started = time.perf_counter()
    {pause}from {module} import lambda_handler
    {resume}imported = time.perf_counter()
    event = json.loads(os.environ["BENCH_EVENT"])
    class Context:
        function_name = {function_name!r}; memory_limit_in_mb = 512; aws_request_id = "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 60000
    response = lambda_handler(event, Context())
    done = time.perf_counter()
    print(json.dumps({{"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                      "failures": len(response.get("batchItemFailures", []))}}))
""")


# What shared/coldstart.py does around a handler's load, for the paused floor.
_PAUSE = {"pause": "import gc; gc.disable()\n", "resume": "gc.enable(); gc.freeze()\n"}
_NO_PAUSE = {"pause": "", "resume": ""}


def usual_module(traced: bool) -> tuple[str, ...]:
    """The usual module's lines, as the report shows them (a blank line between its imports and its objects)."""
    if traced:
        return (
            "from aws_lambda_powertools import Logger, Metrics, Tracer",
            *_USUAL_IMPORTS,
            "",
            'logger, tracer, metrics = Logger(), Tracer(), Metrics(namespace="bench")',
            _PROCESSOR,
        )
    return (
        "from aws_lambda_powertools import Logger, Metrics",
        *_USUAL_IMPORTS,
        "",
        'logger, metrics = Logger(), Metrics(namespace="bench")',
        _PROCESSOR,
    )


@dataclass(frozen=True)
class B3Row:
    name: str  # a handler's, or FLOOR
    import_ms: float
    first_batch_ms: float  # import and first batch together
    failed_batches: int  # runs whose one record came back in batchItemFailures
    idle_batches: int = 0  # runs whose batch did not log its work (a skip): their timing is not a first batch


@dataclass(frozen=True)
class B3Setting:
    traced: bool
    usual_ms: float  # the usual handler module's import (its imports and objects)
    floor: B3Row
    handlers: list[B3Row]
    paused_floor: B3Row | None = None  # the floor loaded as recount's handlers load, for reading

    def row(self, name: str) -> B3Row | None:
        return next((row for row in self.handlers if row.name == name), None)


@dataclass(frozen=True)
class B3Result:
    """Every time is a median taken inside a fresh interpreter, plus the bare start's (`bare_ms`, wall time)."""

    runs: int
    bare_ms: float  # `python -c pass`
    settings: list[B3Setting]  # traced first, then tracing off

    def ratio(self, setting: B3Setting, row: B3Row, floor: B3Row | None = None) -> float:
        """What the goal judges: import and first batch over the floor's, in the same setting, the bare
        interpreter start taken off both (over `floor`'s when given: the paused floor, for reading)."""
        below = (floor or setting.floor).first_batch_ms - self.bare_ms
        return (row.first_batch_ms - self.bare_ms) / below if below > 0 else 0.0

    def judged(self) -> list[tuple[B3Setting, float]]:
        """The judged handler's ratio in each setting that measured it."""
        return [(s, self.ratio(s, row)) for s in self.settings if (row := s.row(JUDGED)) is not None]

    def rows(self) -> list[B3Row]:
        return [
            row
            for setting in self.settings
            for row in (setting.floor, *setting.handlers, *([setting.paused_floor] if setting.paused_floor else []))
        ]


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


def setting_environment(environment: dict[str, str], traced: bool) -> dict[str, str]:
    """Inside Lambda both ways (its task root and a function's name); traced as a stage deploys by default (no
    POWERTOOLS_TRACE_DISABLED, a sampled request), or with tracing off as a stage's `tracing: false` sets it."""
    inside = {key: value for key, value in environment.items() if key != TRACER_DISABLED_ENV}
    inside |= {constants.LAMBDA_TASK_ROOT_ENV: str(ROOT), **FUNCTION_NAME}
    return {**inside, **TRACE_HEADER} if traced else {**inside, TRACER_DISABLED_ENV: "true"}


def floor_postgres(database_url: str) -> str:
    """What the inbox handler sends PostgreSQL on a dirty workspace's first batch, but the workspace, as data for
    the floor (which runs no recount code): the session's settings (recount's defaults: the functions' environment
    sets none), the dirty job's BEGIN, the statements' file and names, the lock query's constant parameters."""
    stores = StoreSettings()
    session = PostgresSession(
        database_url,
        statement_timeout_ms=stores.statement_timeout_ms,
        lock_timeout_ms=stores.lock_timeout_ms,
        connect_timeout_s=stores.connect_timeout_s,
        pooled=stores.pooled,
        iam_auth=False,
    )
    job = JobName.INBOX_COUNTS
    lock = {name: value for name, value in lock_parameters("", incremental=True).items() if name != "client_id"}
    return json.dumps(
        {
            "settings": session.settings,
            "begin": GENERIC_PLANS_BEGIN,
            "queries": str(QUERIES_DIR / f"{QUERY_FILE[job]}.sql"),
            "statements": {
                "lock": LOCK_QUERY[job],
                "full": STATEMENT_OF[Pass.FULL],
                "full_with_state": STATEMENT_OF[Pass.FULL_WITH_STATE],
            },
            "lock": {"lock_class": LOCK_CLASS[job], **lock},
            "rules": STATE_RULES,
        }
    )


def compile_sources() -> None:
    """Bytecode for recount's sources and the floor's, written ahead as pip writes the packages' at install: else,
    with PYTHONDONTWRITEBYTECODE set (or a tree it cannot write), each fresh interpreter compiles recount's modules
    anew (~25 ms here), a cost the floor's packages never pay."""
    for directory in ("shared", "functions"):
        compileall.compile_dir(ROOT / directory, quiet=1)
    for path in ("recount/__init__.py", "recount/bench/__init__.py", f"{MODULES[FLOOR].replace('.', '/')}.py"):
        compileall.compile_file(ROOT / path, quiet=1)  # the floor's module and the packages above it


def measure(environment: dict[str, str], runs: int, first_batch_events: Callable[[], dict[str, str]]) -> B3Result:
    """Times are taken inside each fresh interpreter and the bare start (`python -c pass`) added, so imports
    and first batches compare on the same footing. Each round starts the bare interpreter once and, in each
    setting, the usual module, the floor, every handler and the paused floor once, so a noisy moment falls on
    all of them.
    `first_batch_events()` gives a setting's events for the round (handler -> a one-message event with work to
    do, the floor's a dirty workspace of its own), so no run replays a batch an earlier one did. Every side
    loads bytecode: recount's sources and the floor's are compiled first, as the packages' were at install."""
    compile_sources()
    env = {**os.environ, **environment, "PYTHONPATH": str(ROOT)}
    floor = {FLOOR_POSTGRES: floor_postgres(env[EnvVar.DATABASE_URL])}
    bare: list[float] = []
    usual: dict[bool, list[float]] = {traced: [] for traced in SETTINGS}
    batches: dict[bool, dict[str, list[dict[str, Any]]]] = {
        traced: {name: [] for name in MODULES} for traced in SETTINGS
    }
    for _ in range(runs):
        bare.append(_wall("pass", env))
        for traced in SETTINGS:
            inside = setting_environment(env, traced)
            usual[traced].append(_inside(_TIMED.format(code="\n".join(usual_module(traced))), inside)["import_ms"])
            events = first_batch_events()
            for name, module in MODULES.items():
                event = events[name]
                batches[traced][name].append(
                    _inside(
                        _FIRST_BATCH.format(
                            module=module, function_name=_NAME, **(_PAUSE if name == PAUSED_FLOOR else _NO_PAUSE)
                        ),
                        {**inside, "BENCH_EVENT": event, **(floor if name in (FLOOR, PAUSED_FLOOR) else {})},
                    )
                )
    bare_ms = statistics.median(bare)
    return B3Result(
        runs,
        bare_ms,
        [
            B3Setting(
                traced,
                statistics.median(usual[traced]) + bare_ms,
                _row(FLOOR, batches[traced][FLOOR], bare_ms),
                [_row(handler, batches[traced][handler], bare_ms) for handler in HANDLERS],
                _row(PAUSED_FLOOR, batches[traced][PAUSED_FLOOR], bare_ms),
            )
            for traced in SETTINGS
        ],
    )


def _row(name: str, results: list[dict[str, Any]], bare_ms: float) -> B3Row:
    return B3Row(
        name,
        statistics.median(r["import_ms"] for r in results) + bare_ms,
        statistics.median(r["total_ms"] for r in results) + bare_ms,
        sum(1 for r in results if r["failures"]),
        sum(1 for r in results if WORK_DONE[name] not in r["logged"]),
    )
