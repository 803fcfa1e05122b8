"""docs/configuration.md is generated from the settings models, the stage model and the time budget's steps, so
its defaults, bounds and sums are the code's."""

from __future__ import annotations

from pathlib import Path

from infra.config import StageConfig
from recount.render.configuration import configuration_reference
from shared.contracts.settings import EnvVar

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_configuration_reference_is_current() -> None:
    # When this fails, run: python -m recount configuration > docs/configuration.md
    assert PAGE.read_text() == configuration_reference()


def test_the_reference_names_every_variable_and_every_stage_setting() -> None:
    page = configuration_reference()
    for variable in EnvVar:
        assert f"| `{variable.value}` |" in page
    for name, field in StageConfig.model_fields.items():
        assert f"| `{field.alias or name}` |" in page


def test_the_time_budget_tables_sum_to_the_margins_and_the_longest_work() -> None:
    page = configuration_reference()
    assert "| **total** | **36 s** | |" in page and "| **total** | **11.25 s** | |" in page
    assert "| **total** | **81.75 s** | |" in page and "| **total** | **34 s** | |" in page
