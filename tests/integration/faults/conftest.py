"""The fault table's rig (PostgreSQL and Redis both behind cuttable proxies) and the table printed at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.telemetry import logger
from tests.integration.faults.ledger import FunctionLogs
from tests.integration.faults.table import ROWS, render
from tests.integration.model.rig import Rig, open_rig

MAX_RECEIVE_COUNT = 3


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[Rig]:
    """The function reaches both stores directly (a terminated backend is seen at once)."""
    with open_rig(monkeypatch, database_url, redis_url, max_receive_count=MAX_RECEIVE_COUNT) as opened:
        opened.reset()
        yield opened


@pytest.fixture
def redis_rig(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[Rig]:
    """The function reaches Redis through a proxy the test can cut."""
    with open_rig(
        monkeypatch, database_url, redis_url, max_receive_count=MAX_RECEIVE_COUNT, proxy_redis=True
    ) as opened:
        opened.reset()
        yield opened


@pytest.fixture
def pg_rig(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[Rig]:
    """The function reaches PostgreSQL through a proxy the test can cut."""
    with open_rig(
        monkeypatch, database_url, redis_url, max_receive_count=MAX_RECEIVE_COUNT, proxy_postgres=True
    ) as opened:
        opened.reset()
        yield opened


@pytest.fixture
def function_logs() -> Iterator[FunctionLogs]:
    """Every line the function logs during the test (what the ledger finds outcomes in)."""
    capture = FunctionLogs()
    logger.addHandler(capture)
    yield capture
    logger.handlers.remove(capture)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.write_sep("=", "fault table: the inbox counts function under injected faults")
    for line in render(ROWS):
        terminalreporter.write_line(line)
