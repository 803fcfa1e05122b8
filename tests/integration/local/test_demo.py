"""The README's first command, short: the local pipeline under simulated traffic ends with zero drift."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.adapters.postgres import PostgresDatabase
from tests.conftest import ADMIN_DATABASE_URL

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def demo_database() -> Iterator[str]:
    """A database of its own: the demo migrates it and fills it with generated workspaces."""
    name = f"recount_demo_{uuid.uuid4().hex[:10]}"
    admin = PostgresDatabase(ADMIN_DATABASE_URL)
    admin.run(f'CREATE DATABASE "{name}"')
    yield f"{ADMIN_DATABASE_URL.rpartition('/')[0]}/{name}"
    admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.parametrize(
    ("chaos", "cluster"), [(False, False), (True, False), (False, True)], ids=["calm", "chaos", "on a Redis Cluster"]
)
def test_a_short_demo_ends_drained_with_zero_drift(
    demo_database: str, tmp_path: Path, chaos: bool, cluster: bool, request: pytest.FixtureRequest
) -> None:
    redis_url = str(request.getfixturevalue("redis_cluster_url" if cluster else "redis_url"))  # both emptied
    environment = {
        **os.environ,
        "DATABASE_URL": demo_database,
        "REDIS_URL": redis_url,
        "RECOUNT_LOCAL_STATE": str(tmp_path / "local.json"),
        "COLUMNS": "160",
    }
    arguments = [
        "--duration",
        "14" if chaos else "6",
        "--workspaces",
        "4",
        "--leads",
        "300",
        "--rate",
        "15",
        "--no-view",
        *(["--chaos"] if chaos else []),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "recount", "demo", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.count("│") >= 3
    }
    assert rows["drained (queues empty, no dirty mark)"] == "yes"
    assert rows["drift against a fresh computation"] == "none"
    assert int(rows["recomputes run"]) >= 4
    if chaos:
        assert "down" in rows["outages injected"]  # an outage was injected and absorbed
    if cluster:  # the versions were bumped on the cluster, in the slots of their own keys
        versions = redis.RedisCluster.from_url(redis_url, decode_responses=True)
        try:
            assert any(key.startswith("inbox:v1:ver:") for key in versions.scan_iter(target_nodes=versions.PRIMARIES))
        finally:
            versions.close()
