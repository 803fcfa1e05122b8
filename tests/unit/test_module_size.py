"""The house keeps a module to one concept: past about 300 lines it reads as two (CONTRIBUTING, "Layout")."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOST_LINES = 300
PACKAGES = ("shared", "functions", "infra", "recount")


def test_no_module_of_the_code_is_over_300_lines() -> None:
    lengths = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }

    assert lengths, "no module found: the packages moved"
    assert {path: n for path, n in lengths.items() if n > MOST_LINES} == {}
