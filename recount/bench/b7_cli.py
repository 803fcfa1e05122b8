"""B7: how fast the operator commands start. `recount --help` and `recount COMMAND --help` for send, status and
verify, each in a fresh interpreter, beside `python -c "import typer, rich"` (what any typer CLI loads),
interleaved run by run in an order that rotates; medians of the wall time. The baseline leaves out what any
typer CLI pays for a command's --help, so the ratio is an upper bound on recount's own share: typer's rich help
(typer.rich_utils, with rich.markdown and markdown_it) and, for `COMMAND --help`, pydantic, which typer 0.29
requires and imports to coerce the group's own --help flag before the command's help is shown. A two-command
typer app pays the same: about 2.3x for --help and 4x for a command's --help on this baseline."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ("-c", "import typer, rich")
COMMANDS = (("--help",), ("send", "--help"), ("status", "--help"), ("verify", "--help"))


@dataclass(frozen=True)
class B7Row:
    command: str
    median_ms: float
    ratio: float  # over the baseline's median


@dataclass(frozen=True)
class B7Result:
    runs: int
    baseline_ms: float
    rows: list[B7Row]

    @property
    def worst(self) -> B7Row:
        return max(self.rows, key=lambda row: row.ratio)


def _wall_ms(arguments: tuple[str, ...]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "100"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return (time.perf_counter() - started) * 1000


def measure(runs: int) -> B7Result:
    _wall_ms(BASELINE)  # one warm-up of each, so the file cache is warm for all
    for command in COMMANDS:
        _wall_ms(("-m", "recount", *command))
    baseline: list[float] = []
    timings: dict[str, list[float]] = {" ".join(command): [] for command in COMMANDS}
    entries: list[tuple[str, tuple[str, ...]]] = [("", BASELINE)]
    entries += [(" ".join(command), ("-m", "recount", *command)) for command in COMMANDS]
    for round_number in range(runs):
        shift = round_number % len(entries)  # the order rotates, so no command always runs first
        for label, arguments in entries[shift:] + entries[:shift]:
            (timings[label] if label else baseline).append(_wall_ms(arguments))
    base = statistics.median(baseline)
    rows = [
        B7Row(f"recount {label}", statistics.median(values), statistics.median(values) / base)
        for label, values in timings.items()
    ]
    return B7Result(runs, base, rows)
