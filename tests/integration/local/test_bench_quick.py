"""`recount bench --quick` produces the whole report (what CI checks; not how fast this machine is)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_DATABASE_URL

ROOT = Path(__file__).resolve().parents[3]


def test_the_quick_bench_writes_every_section_and_plot(tmp_path: Path, redis_url: str) -> None:
    report = tmp_path / "benchmarks.md"
    environment = {
        **os.environ,
        "DATABASE_URL": ADMIN_DATABASE_URL,
        "REDIS_URL": redis_url,
        "RECOUNT_LOCAL_STATE": str(tmp_path / "local.json"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "recount", "bench", "--quick", "--output", str(report)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    for section in ("## B1", "## B2", "## B3", "## B4", "## B5", "Machine:", "Quick run"):
        assert section in text, section
    assert "Not run" not in text, text  # every benchmark ran: a failure would show here with its reason
    assert "| recount, JIT on (ms) | recount, JIT off (ms) | seed, JIT on (ms) | seed, JIT off (ms) |" in text
    assert (
        "Against the seed at its best" in text
        and "## B6" in text
        and "## B7" in text
        and "| update 1,000 leads |" in text
        and "| the usual handler module |" in text
        and "| the floor |" in text  # B3 judged against the floor, traced and with tracing off
        and "| the floor, collector paused |" in text  # and the floor loaded as recount's handlers load, beside it
    )
    for unmeasured in ("10 minutes", "1,000 for 10,000", "tens of milliseconds", "eager import"):
        assert unmeasured not in text, unmeasured  # sentences the run did not measure
    assert "Redis / DynamoDB per warm job — **met**" in text  # B2, counted on the wire
    b4 = text[text.index("## B4") : text.index("## B5")]
    assert "**Capacity:" in b4 and "recount's own CPU per event" in b4 and "| environments | recount |" in b4, b4
    assert "### The floor under recount's own CPU" in b4 and "| floor | clean |" in b4, b4  # measured, not skipped
    assert "did not log their work" not in text and "reported their record failed" not in text  # B3 did real work
    b10 = text[text.index("## B10") :]  # priced from this run's B1 and B2
    assert "| leads in workspace | duration (ms) | billed (ms) | per million events |" in b10, b10
    assert "| **total** |" in b10 and "*Assumed:*" in b10 and "Where scale stops" in b10, b10
    for image in ("b1_recompute.png", "b3_cold_start.png", "b4_freshness.png"):
        assert (tmp_path / "benchmarks" / image).stat().st_size > 1000, image
