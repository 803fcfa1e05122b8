"""A benchmark either measured something or did not run, and then says why (in the report, from that run)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rich.console import Console

T = TypeVar("T")
U = TypeVar("U")
_REASON_CHARS = 300


@dataclass(frozen=True)
class NotRun:
    reason: str  # one line


def reason_of(error: BaseException) -> str:
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 1] + "…"


def attempt(name: str, console: Console, measure: Callable[[], T]) -> T | NotRun:
    """Run one benchmark; an exception becomes NotRun with its one-line reason (the traceback goes to the
    console), so the other benchmarks still run and the report still says what happened."""
    try:
        return measure()
    except Exception as error:
        console.print(f"{name} not run: {reason_of(error)}", markup=False)
        console.print(traceback.format_exc(), markup=False, highlight=False)
        return NotRun(reason_of(error))


def after(name: str, console: Console, needed: tuple[str, T | NotRun], measure: Callable[[T], U]) -> U | NotRun:
    """`attempt` for a benchmark that needs an earlier step's result, `needed` (what, result): not run
    when that step failed."""
    what, result = needed
    if isinstance(result, NotRun):
        return NotRun(f"needs {what}, which failed: {result.reason}")
    return attempt(name, console, lambda: measure(result))


def both(first: tuple[str, T | NotRun], second: tuple[str, U | NotRun]) -> tuple[str, tuple[T, U] | NotRun]:
    """Two earlier steps' results as the one `needed` of `after`: not run when either failed, saying which."""
    (first_name, first_result), (second_name, second_result) = first, second
    what = f"{first_name} and {second_name}"
    if isinstance(first_result, NotRun):
        return what, NotRun(f"{first_name}: {first_result.reason}")
    if isinstance(second_result, NotRun):
        return what, NotRun(f"{second_name}: {second_result.reason}")
    return what, (first_result, second_result)
