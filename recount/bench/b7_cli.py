"""B7: how fast the operator commands start. `recount --help` and `recount COMMAND --help` for send, status and
verify, each in a fresh interpreter, beside `python -c "import typer, rich"` (what any typer CLI loads),
interleaved run by run in an order that rotates; medians of the wall time. The baseline leaves out what any
typer CLI pays to build and print its help (click's parser and formatter, typer's own modules), so the ratio is
an upper bound on recount's own share. A two-command typer app made the way recount's is (plain help: typer's
rich help would load rich.markdown and markdown_it) runs beside them as the floor any such CLI stands on. typer
is pinned below 0.29, which builds a pydantic adapter for every parameter it parses, the group's unset --help
flag included, and so imports pydantic (~85 ms) before any command's help is shown."""

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
# The floor: a typer app of two one-option commands and nothing else, shown beside recount's commands.
BARE_APP = (
    "import typer\napp = typer.Typer(rich_markup_mode=None)\n@app.command()\ndef first(name: str = '') -> None: ...\n"
    "@app.command()\ndef second(name: str = '') -> None: ...\napp()"
)
REFERENCES = (("--help",), ("first", "--help"))


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
    references: list[B7Row]  # the bare typer app's, not judged

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
    recount = {f"recount {' '.join(command)}": ("-m", "recount", *command) for command in COMMANDS}
    bare = {f"a bare two-command typer app: {' '.join(command)}": ("-c", BARE_APP, *command) for command in REFERENCES}
    entries: list[tuple[str, tuple[str, ...]]] = [("", BASELINE), *recount.items(), *bare.items()]
    for _, arguments in entries:
        _wall_ms(arguments)  # one warm-up of each, so the file cache is warm for all
    timings: dict[str, list[float]] = {label: [] for label, _ in entries}
    for round_number in range(runs):
        shift = round_number % len(entries)  # the order rotates, so no command always runs first
        for label, arguments in entries[shift:] + entries[:shift]:
            timings[label].append(_wall_ms(arguments))
    base = statistics.median(timings[""])

    def row(label: str) -> B7Row:
        median = statistics.median(timings[label])
        return B7Row(label, median, median / base)

    return B7Result(runs, base, [row(label) for label in recount], [row(label) for label in bare])
