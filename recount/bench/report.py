"""The benchmark report: docs/benchmarks.md with the machine, the date, the figures and PNG plots."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recount.bench.b1_recompute import B1Report
from recount.bench.b2_io import B2Result
from recount.bench.b3_cold_start import B3Result
from recount.bench.b4_pipeline import B4Result
from recount.bench.b5_sweep import B5Result
from recount.bench.b6_growth import B6Result
from recount.bench.b7_cli import B7Result
from recount.bench.b8_triggers import B8Result
from recount.bench.b9_incremental import B9Result
from recount.bench.b10_cost import B10Result
from recount.bench.outcome import NotRun
from recount.bench.plots import B1_PNG, B3_PNG, B4_PNG, plot_all
from recount.bench.provenance import Provenance
from recount.bench.sections.b1_recompute import b1
from recount.bench.sections.b2_io import b2
from recount.bench.sections.b3_cold_start import b3
from recount.bench.sections.b4_pipeline import b4
from recount.bench.sections.b5_sweep import b5
from recount.bench.sections.b6_growth import b6
from recount.bench.sections.b7_cli import b7
from recount.bench.sections.b8_triggers import b8
from recount.bench.sections.b9_incremental import b9
from recount.bench.sections.b10_cost import b10
from recount.bench.sections.summary import summary


@dataclass(frozen=True)
class Results:
    quick: bool
    postgres_version: str
    redis_version: str
    b1: B1Report | NotRun
    b2: B2Result | NotRun
    b3: B3Result | NotRun
    b4: B4Result | NotRun
    b5: B5Result | NotRun
    seconds: float
    b6: B6Result | NotRun
    b7: B7Result | NotRun
    b8: B8Result | NotRun
    b9: B9Result | NotRun
    b10: B10Result | NotRun  # from B1 and B2 of this run, with the dated price file
    provenance: Provenance


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{memory}; {system}"


def write(results: Results, path: Path) -> None:
    images = path.parent / "benchmarks"
    plot_all(results.b1, results.b3, results.b4, images)
    lines = [
        "# recount benchmarks",
        "",
        f"Written by {results.provenance.describe()} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
        f"{results.seconds / 60:.1f} min. Nothing in it is edited by hand: run the command again to update it.",
        "",
        f"- Machine: {machine()}",
        f"- PostgreSQL {results.postgres_version}; Redis {results.redis_version}; AWS services: moto",
        *(
            ["- **Quick run**: small sizes, for CI to check the report is produced; not the figures to quote."]
            if results.quick
            else []
        ),
        "",
        *summary(results),
        *b1(results.b1),
        *_image("B1", results.b1, B1_PNG),
        *b2(results.b2),
        *b3(results.b3),
        *_image("B3", results.b3, B3_PNG),
        *b4(results.b4),
        *_image("B4", results.b4, B4_PNG),
        *b5(results.b5),
        *b6(results.b6),
        *b7(results.b7),
        *b8(results.b8),
        *b9(results.b9),
        *b10(results.b10),
    ]
    path.write_text("\n".join(lines))


def _image(name: str, outcome: object, file: str) -> list[str]:
    return [] if isinstance(outcome, NotRun) else [f"![{name}](benchmarks/{file})", ""]
