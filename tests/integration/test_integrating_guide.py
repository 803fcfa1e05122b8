"""docs/integrating.md: its Python examples run against real PostgreSQL, Redis and moto's SQS; its TypeScript
examples type-check with tsc against the generated event types; and those types match the schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pg8000.native
import pytest
import redis
from moto import mock_aws

from recount.servers.throwaway import free_port
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.redis_store import RedisStore
from shared.contracts.events import EventName, Priority, parse_envelope
from shared.contracts.keys import JobName
from shared.contracts.settings import RecomputeSettings
from shared.contracts.status import JobContext
from shared.domain.recompute import Recompute
from tests.builders import Workspace

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "integrating.md"
NODE = ROOT / "node_modules" / ".bin" / "node"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", GUIDE.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def guide() -> dict[str, Any]:
    """The guide's Python blocks, run in order as one module."""
    namespace: dict[str, Any] = {"__name__": "integrating_guide"}
    exec(compile("\n".join(blocks("python")), str(GUIDE), "exec"), namespace)
    return namespace


@pytest.fixture
def connection(database_url: str) -> Iterator[pg8000.native.Connection]:
    url = urlsplit(database_url)
    connection = pg8000.native.Connection(
        user=url.username or "postgres", host=url.hostname or "127.0.0.1", port=url.port or 5432, database=url.path[1:]
    )
    yield connection
    connection.close()


def test_the_guide_has_both_languages_for_every_touch_point() -> None:
    assert len(blocks("python")) == 4 and len(blocks("ts")) == 4


def test_a_write_and_its_mark_commit_together_or_not_at_all(
    guide: dict[str, Any], connection: pg8000.native.Connection, db: PostgresDatabase
) -> None:
    workspace = Workspace.create(db)
    lead = workspace.lead(status="new")
    before = datetime.now(UTC).replace(tzinfo=None)

    guide["set_lead_status"](connection, workspace.id, lead, "needs_repair")

    marker = workspace.dirty_marker()
    assert marker is not None and before.replace(microsecond=0) <= marker["dirty_at"]
    assert marker["dirty_at"].microsecond % 1000 == 0  # the app's clock, to the millisecond
    assert db.run('SELECT status FROM "Lead" WHERE id = :id', id=lead)[0]["status"] == "needs_repair"
    # Given a write that fails (status is NOT NULL), then neither it nor a mark is left
    db.run('DELETE FROM "InboxCountsDirty"')
    with pytest.raises(pg8000.native.DatabaseError):
        guide["set_lead_status"](connection, workspace.id, lead, None)
    assert workspace.dirty_marker() is None
    assert db.run('SELECT status FROM "Lead" WHERE id = :id', id=lead)[0]["status"] == "needs_repair"


def test_the_dirty_event_is_recounts_envelope_and_goes_to_the_queue_of_its_priority(guide: dict[str, Any]) -> None:
    with mock_aws():
        sqs = guide["sqs_client"]("us-east-1")
        urls = {name: sqs.create_queue(QueueName=f"recount-{name}")["QueueUrl"] for name in ("counts", "counts_high")}

        assert guide["send_dirty"](sqs, urls, "ws-normal") and guide["send_dirty"](sqs, urls, "ws-high", "high")
        received = {
            name: [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
            for name, url in urls.items()
        }
        broken = guide["send_dirty"](sqs, {**urls, "counts": urls["counts"] + "-gone"}, "ws-lost")

    (normal,), (high,) = received["counts"], received["counts_high"]
    event = parse_envelope(normal)
    assert event.name is EventName.INBOX_COUNTS_DIRTY and event.data.clientId == "ws-normal"
    assert getattr(parse_envelope(high).data, "priority", None) is Priority.HIGH
    assert not broken  # a failed send is logged and reported, never raised into the request


def test_reads_go_through_the_version_and_survive_a_redis_outage(
    guide: dict[str, Any],
    connection: pg8000.native.Connection,
    db: PostgresDatabase,
    cache: RedisStore,
    redis_url: str,
    settings: RecomputeSettings,
) -> None:
    workspace = Workspace.create(db)
    workspace.lead(status="new", assignedToUserId="setter-1")
    Recompute(JobName.INBOX_COUNTS, db, cache, settings).run(workspace.id, JobContext("setup", "test"))
    client = redis.Redis.from_url(redis_url)

    first = guide["read_counts"](client, connection, workspace.id)
    db.run('UPDATE "InboxCounts" SET total = 40 WHERE "clientId" = :id', id=workspace.id)
    cached = guide["read_counts"](client, connection, workspace.id)
    client.incr(f"inbox:v1:ver:{workspace.id}")  # what recount does after a change
    fresh = guide["read_counts"](client, connection, workspace.id)
    started = time.monotonic()
    down = guide["read_counts"](guide["cache_client"](f"redis://127.0.0.1:{free_port()}/0"), connection, workspace.id)
    assert time.monotonic() - started < 3  # it fell back at once, not after retries

    assert [row["total"] for row in first] == [1, 1] and cached == first
    assert [row["total"] for row in fresh] == [40, 40] and down == fresh


def test_an_slo_miss_reaches_the_set_the_analytics_sweep_takes(
    guide: dict[str, Any], cache: RedisStore, redis_url: str
) -> None:
    client = guide["cache_client"](redis_url)
    before = time.time()

    assert not guide["report_slo_miss"](client, "ws-fast", 1.2, warm=True)
    assert guide["report_slo_miss"](client, "ws-slow", 1.6, warm=True)
    assert not guide["report_slo_miss"](client, "ws-cold", 2.5, warm=False)
    first = client.zscore("analytics:v1:slo_miss", "ws-slow")
    time.sleep(0.05)
    assert guide["report_slo_miss"](client, "ws-slow", 4.0, warm=True)

    second = client.zscore("analytics:v1:slo_miss", "ws-slow")
    assert [miss.member for miss in cache.slo_misses(10)] == ["ws-slow"]
    assert first is not None and before - 1 <= first <= time.time()  # scored in seconds
    assert second is not None and second > first  # the set keeps the latest miss


def test_a_miss_reported_while_the_sweep_runs_survives_its_removal(
    guide: dict[str, Any], cache: RedisStore, redis_url: str
) -> None:
    # Given two reported misses, read by the analytics sweep
    client = guide["cache_client"](redis_url)
    assert guide["report_slo_miss"](client, "ws-again", 2.0, warm=True)
    assert guide["report_slo_miss"](client, "ws-once", 2.0, warm=True)
    taken = cache.slo_misses(10)
    # When the app reports one of them again (the guide's own call) before the sweep removes what it took
    time.sleep(0.01)
    assert guide["report_slo_miss"](client, "ws-again", 2.0, warm=True)
    removed = cache.remove_slo_misses(taken)
    # Then only the member not reported since is removed: the fresh miss waits for the next sweep
    assert removed == 1
    assert client.zrange("analytics:v1:slo_miss", 0, -1) == [b"ws-again"]


def test_the_typescript_examples_type_check_against_the_generated_types(tmp_path: Path) -> None:
    check = ROOT / "build" / "integrating-check"  # inside the project, so node_modules resolves
    shutil.rmtree(check, ignore_errors=True)
    check.mkdir(parents=True)
    (check / "integrating.ts").write_text("\n".join(blocks("ts")))
    shutil.copy(ROOT / "docs" / "events.d.ts", check / "events.d.ts")
    shutil.copy(ROOT / "tests" / "fixtures" / "typescript" / "prisma-client.d.ts", check / "prisma-client.d.ts")
    (check / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "strict": True,
                    "noEmit": True,
                    "target": "es2022",
                    "module": "esnext",
                    "moduleResolution": "bundler",
                    "esModuleInterop": True,
                    "types": ["node"],
                    "skipLibCheck": True,
                },
                "files": ["integrating.ts", "prisma-client.d.ts"],
            }
        )
    )

    result = _node(ROOT / "node_modules" / "typescript" / "bin" / "tsc", "-p", str(check))

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_typescript_types_match_the_schema(tmp_path: Path) -> None:
    cli = ROOT / "node_modules" / "json-schema-to-typescript" / "dist" / "src" / "cli.js"
    script = json.loads((ROOT / "package.json").read_text())["scripts"]["types"]
    banner = re.search(r'--bannerComment "(.*)"$', script)
    assert banner is not None

    result = _node(
        cli, "-i", "docs/events.schema.json", "-o", str(tmp_path / "events.d.ts"), "--bannerComment", banner.group(1)
    )

    assert result.returncode == 0, result.stderr
    # When this fails, run: npm run types
    assert (tmp_path / "events.d.ts").read_text() == (ROOT / "docs" / "events.d.ts").read_text()


def _node(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(script), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
