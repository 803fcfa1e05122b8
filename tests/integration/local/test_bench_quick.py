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
    environment = {**os.environ, "DATABASE_URL": ADMIN_DATABASE_URL, "REDIS_URL": redis_url,
                   "RECOUNT_LOCAL_STATE": str(tmp_path / "local.json")}
    result = subprocess.run([sys.executable, "-m", "recount", "bench", "--quick", "--output", str(report)],
                            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    for section in ("## B1", "## B2", "## B3", "## B4", "## B5", "Machine:", "Quick run"):
        assert section in text, section
    assert "| PostgreSQL | 4 | ≤ 4 |" in text and "| Redis | 2 | ≤ 2 |" in text and "| DynamoDB | 2 | ≤ 2 |" in text
    for image in ("b1_recompute.png", "b3_cold_start.png", "b4_freshness.png"):
        assert (tmp_path / "benchmarks" / image).stat().st_size > 1000, image
