"""The model-based test's rig: real PostgreSQL, real Redis behind a cuttable proxy, moto, the real inbox handler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.model.rig import Rig, open_rig
from tests.integration.test_dirty_triggers import triggers_database_url  # noqa: F401 (a fixture)

# Generous on purpose: the model injects at most one failure per message per rule, and a valid message must never
# reach the dead-letter queue here (the fault table covers the last attempt).
MODEL_MAX_RECEIVE_COUNT = 10


@pytest.fixture
def model_rig(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[Rig]:
    with open_rig(
        monkeypatch, database_url, redis_url, max_receive_count=MODEL_MAX_RECEIVE_COUNT, proxy_redis=True
    ) as rig:
        yield rig


@pytest.fixture
def capture_rig(
    monkeypatch: pytest.MonkeyPatch,
    triggers_database_url: str,  # noqa: F811
    redis_url: str,
) -> Iterator[Rig]:
    """The rig over a database of its own migrated with the triggers: the database records what the app changed."""
    with open_rig(
        monkeypatch, triggers_database_url, redis_url, max_receive_count=MODEL_MAX_RECEIVE_COUNT, proxy_redis=True
    ) as rig:
        yield rig
