"""The report's PNG plots (B1, B3, B4); a benchmark that did not run has no plot, and an old one is removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from recount.bench.b1_recompute import B1Report
from recount.bench.b3_cold_start import B3Result
from recount.bench.b4_pipeline import B4Result
from recount.bench.outcome import NotRun
from recount.bench.sections.b3_cold_start import SETTING_NAMES
from recount.bench.sections.b4_pipeline import B4_GOAL_P95_S

T = TypeVar("T")

B1_PNG = "b1_recompute.png"
B3_PNG = "b3_cold_start.png"
B4_PNG = "b4_freshness.png"


def plot_all(b1: B1Report | NotRun, b3: B3Result | NotRun, b4: B4Result | NotRun, images: Path) -> None:
    images.mkdir(parents=True, exist_ok=True)
    _plot_or_remove(b1, images / B1_PNG, _plot_b1)
    _plot_or_remove(b3, images / B3_PNG, _plot_b3)
    _plot_or_remove(b4, images / B4_PNG, _plot_b4)


def _plot_or_remove(outcome: T | NotRun, path: Path, plot: Callable[[T, Path], None]) -> None:
    if isinstance(outcome, NotRun):
        path.unlink(missing_ok=True)  # a plot from an earlier run would pass for this one's
    else:
        plot(outcome, path)


def _plot_b1(report: B1Report, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(8, 4))
    rows = report.rows
    positions = range(len(rows))
    bars = {
        "seed, JIT on": [r.seed.jit_on_ms for r in rows],
        "seed, JIT off": [r.seed.jit_off_ms for r in rows],
        "recount, JIT on": [r.recount.jit_on_ms for r in rows],
        "recount, JIT off": [r.recount.jit_off_ms for r in rows],
    }
    width = 0.8 / len(bars)
    for index, (label, values) in enumerate(bars.items()):
        axes.bar([p - 0.4 + width * (index + 0.5) for p in positions], values, width=width, label=label)
    axes.set_xticks(list(positions), [f"{r.leads:,}" for r in rows])
    axes.set_xlabel("leads in the workspace")
    axes.set_ylabel("median ms per recompute")
    axes.set_title("B1: recompute cost, JIT on and off")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_b3(result: B3Result, path: Path) -> None:
    rows = [
        (f"{what} ({SETTING_NAMES[setting.traced]})", row)
        for setting in result.settings
        for what, row in (
            ("the floor", setting.floor),
            *([("the floor, collector paused", setting.paused_floor)] if setting.paused_floor else []),
            *((row.name, row) for row in setting.handlers),
        )
    ]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.35 * (len(rows) + 1)))
    labels = ["python -c pass", *(label for label, _ in rows)]
    imports = [result.bare_ms, *(row.import_ms for _, row in rows)]
    batches = [0.0, *(row.first_batch_ms - row.import_ms for _, row in rows)]
    axes.barh(labels, imports, label="import")
    axes.barh(labels, batches, left=imports, label="first batch")
    axes.invert_yaxis()  # in the report table's order
    axes.set_xlabel("median ms in a fresh interpreter")
    axes.set_title("B3: cold start, against the floor")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_b4(result: B4Result, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4))
    steps = sorted(result.steps, key=lambda step: step.rate)  # a machine too slow for the first rate stepped down
    rates = [step.rate for step in steps]
    axes.plot(rates, [step.freshness_p50_ms / 1000 for step in steps], marker="o", label="p50")
    axes.plot(rates, [step.freshness_p95_ms / 1000 for step in steps], marker="o", label="p95")
    for step in steps:
        if not step.held(result.p95_limit_ms):
            axes.annotate(
                f"not held: {step.achieved_rate:.0f}/s sent",
                (step.rate, step.freshness_p95_ms / 1000),
                textcoords="offset points",
                xytext=(-10, 10),
                ha="right",
            )
    axes.axhline(B4_GOAL_P95_S, linestyle="--", color="grey", label=f"{B4_GOAL_P95_S:.0f} s (p95 limit of a step)")
    axes.set_xlabel("dirty events per second asked (one step each)")
    axes.set_ylabel("seconds from dirty mark to fresh counts")
    axes.set_title(f"B4: freshness against the rate, {result.workspaces} workspaces")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
