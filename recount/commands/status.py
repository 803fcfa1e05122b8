"""status: one workspace's job status blobs and cache versions (Redis, as stored) and its dirty marker (PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from recount.commands import OPERATOR_QUERIES
from recount.commands.connections import clients_for
from recount.commands.targets import Target
from shared.adapters.redis_errors import classify_redis_error
from shared.adapters.redis_store import RedisStore
from shared.contracts.keys import JobName, status_key, version_key
from shared.queries import query


@dataclass(frozen=True)
class JobState:
    job: str
    version: int | None
    status: dict[str, Any] | None
    statusTtlSeconds: int | None


@dataclass(frozen=True)
class WorkspaceStatus:
    clientId: str
    workspaceExists: bool
    dirtyAt: str | None
    dirtyAgeSeconds: float | None
    dirtyGeneration: str | None
    countsComputedAt: str | None
    aggregatesComputedAt: str | None
    jobs: list[JobState] = field(default_factory=list)


def read_status(target: Target, client_id: str) -> WorkspaceStatus:
    """Every job's status blob and version from Redis (as stored, unvalidated), and the marker from PostgreSQL."""
    clients = clients_for(target)
    try:
        row = clients.db.run(query("operations", "workspace_state", OPERATOR_QUERIES), client_id=client_id)[0]
        jobs = []
        try:
            versions = clients.versions
            assert isinstance(versions, RedisStore)  # built from settings: the operator reads Redis directly
            pipe = versions.client.pipeline(transaction=False)
            for job in JobName:
                pipe.get(version_key(job, client_id))
                pipe.get(status_key(job, client_id))
                pipe.ttl(status_key(job, client_id))
            replies = pipe.execute()
        except RedisError as error:
            raise classify_redis_error(error) from error
        for index, job in enumerate(JobName):
            version, blob, ttl = replies[3 * index : 3 * index + 3]
            jobs.append(
                JobState(
                    job.value,
                    int(version) if version is not None else None,
                    _blob(blob),
                    int(ttl) if blob is not None and int(ttl) >= 0 else None,
                )
            )
    finally:
        clients.close()
    return WorkspaceStatus(
        client_id,
        row["workspace_exists"],
        iso_timestamp(row["dirty_at"]),
        round(row["dirty_age_s"], 3) if row["dirty_age_s"] is not None else None,
        row["generation"],
        iso_timestamp(row["counts_computed_at"]),
        iso_timestamp(row["aggregates_computed_at"]),
        jobs,
    )


def _blob(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"unparsable": raw}
    return value if isinstance(value, dict) else {"unparsable": raw}


def iso_timestamp(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value is not None else None
