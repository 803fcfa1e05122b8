"""The Powertools environment names recount spells out (so that infra/ need not import Powertools) are
Powertools' own."""

from __future__ import annotations

from aws_lambda_powertools.shared import constants

from shared.contracts import powertools_env


def test_each_name_equals_the_constant_powertools_reads() -> None:
    assert powertools_env.SERVICE_NAME_ENV == constants.SERVICE_NAME_ENV
    assert powertools_env.METRICS_NAMESPACE_ENV == constants.METRICS_NAMESPACE_ENV
    assert powertools_env.TRACER_DISABLED_ENV == constants.TRACER_DISABLED_ENV
