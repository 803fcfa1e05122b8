"""A handler loads with the cyclic garbage collector paused, then leaves it on with what it loaded set apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py"))
_LOAD = """
import gc, json
before = [generation["collections"] for generation in gc.get_stats()]
import functions.{function}.handler
after = [generation["collections"] for generation in gc.get_stats()]
print(json.dumps({{"collections": [a - b for a, b in zip(after, before)], "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count(), "left": len(gc.get_objects())}}))
"""


def _lambda_like() -> dict[str, str]:
    """A fresh interpreter's environment as Lambda's, tracing off, with what a handler needs to load."""
    return {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "IDEMPOTENCY_TABLE_NAME": "table",
        "PYTHONPATH": str(ROOT),
    }


def _run(code: str) -> dict[str, Any]:
    """`code` in a fresh Lambda-like interpreter; the JSON object its last line printed."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_lambda_like(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def _load(function: str, *, collecting: bool = True) -> dict[str, Any]:
    code = _LOAD.format(function=function)
    return _run(code if collecting else "import gc; gc.disable()\n" + code)


def test_every_function_is_held_to_it() -> None:
    assert FUNCTIONS == ["analytics_recompute", "inbox_counts_recompute", "sweeper"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_handler_loads_without_a_collection_and_sets_what_it_loaded_apart(function: str) -> None:
    # When a handler module is imported in a fresh interpreter
    loaded = _load(function)
    # Then no collection ran while its modules loaded (with the collector on, loading one runs hundreds), but for
    # the few that compiling the handler's own source may run before its first line (no bytecode written ahead)
    young, middle, old = loaded["collections"]
    assert (young, middle, old) <= (5, 0, 0)
    assert middle == old == 0
    # And the collector is on again, with the loaded objects out of its sight: it walks only what comes after
    assert loaded["enabled"] is True
    assert loaded["frozen"] > 50_000
    assert loaded["left"] < 1_000


def test_a_process_that_turned_the_collector_off_keeps_it_off() -> None:
    loaded = _load("sweeper", collecting=False)
    assert loaded["enabled"] is False
    assert loaded["frozen"] > 50_000


def test_a_handler_loaded_again_in_the_process_sets_nothing_more_apart() -> None:
    # When a handler is imported, then cyclic garbage made and the handler reloaded (as the integration harness does)
    code = """
import gc, importlib, json, weakref
import functions.sweeper.handler as handler
class Cycle: pass
garbage = Cycle(); garbage.self = garbage; probe = weakref.ref(garbage); del garbage
importlib.reload(handler)
gc.collect()
print(json.dumps({"collected": probe() is None, "enabled": gc.isenabled()}))
"""
    # Then the garbage made between the two loads is still the collector's to free
    assert _run(code) == {"collected": True, "enabled": True}
