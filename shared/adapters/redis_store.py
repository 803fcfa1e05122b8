"""Redis adapter: cache versions and status blobs (keys, scripts, publish) over one RedisConnection."""

from __future__ import annotations

from typing import cast

import redis

from shared.adapters.redis_connection import ClusterFoundError, RedisConnection
from shared.adapters.redis_scripts import BUMP_LUA, FINISH_LUA, PUBLISH_LUA, REMOVE_UNCHANGED_LUA
from shared.adapters.secrets import StoreUrl
from shared.contracts.keys import (
    ANALYTICS_SLO_MISS_KEY,
    JobName,
    applied_stamp_key,
    legacy_applied_stamp_key,
    reconcile_cursor_key,
    status_key,
    version_for_stamp,
    version_key,
)
from shared.contracts.status import StatusBlob
from shared.ports import SloMiss


def _is_version(value: str | None) -> bool:
    """A version recount can move on from: an integer below 2^53 (the bump treats anything else as lost)."""
    return value is not None and value.isdigit() and len(value) <= 16 and int(value) < 2**53


class RedisStore:
    """Versions, status blobs, the sweep's cursor and the SLO-miss set, each key written as shared.contracts.keys
    names it. The connection (shared/adapters/redis_connection.py) chooses the client (one node or a cluster, with
    REDIS_CLUSTER=auto found on the first answer), bounds each command and translates its errors; on a cluster,
    what spans slots is sent slot by slot."""

    def __init__(
        self, url: str | StoreUrl, *, timeout_s: float = 3.0, status_ttl_seconds: int = 86_400, cluster: str = "auto"
    ) -> None:
        self._redis = RedisConnection(url, timeout_s=timeout_s, cluster=cluster)
        self._status_ttl_seconds = status_ttl_seconds

    @property
    def client(self) -> redis.Redis | redis.RedisCluster:
        return self._redis.client

    @property
    def in_cluster_mode(self) -> bool:
        return self._redis.in_cluster_mode

    @property
    def commands(self) -> int:
        """Commands sent; wire round trips are counted outside (recount.wire)."""
        return self._redis.commands

    def ping(self) -> None:
        self._redis.run("ping")

    def write_status(self, blob: StatusBlob) -> None:
        self._redis.run(
            "set", status_key(blob.jobName, blob.clientId), blob.model_dump_json(), self._status_ttl_seconds
        )

    def publish(self, blob: StatusBlob, change_stamp: str | None) -> int:
        """Bump the version if `change_stamp` is new, write the final status with it; return the version."""
        if change_stamp is None:  # nothing was ever materialized (no such workspace): no version to move
            self.write_status(blob)
            return self.read_version(blob.jobName, blob.clientId)
        job, client_id = blob.jobName, blob.clientId
        blob_json = blob.model_dump_json(exclude_none=True)
        derived = version_for_stamp(change_stamp)
        if not self.in_cluster_mode:
            keys = (
                version_key(job, client_id),
                applied_stamp_key(job, client_id),
                status_key(job, client_id),
                legacy_applied_stamp_key(job, client_id),
            )
            try:
                return int(
                    self._redis.call(
                        "eval",
                        PUBLISH_LUA,
                        len(keys),
                        *keys,
                        change_stamp,
                        derived,
                        blob_json,
                        self._status_ttl_seconds,
                    )
                )
            except ClusterFoundError:
                pass  # refused before it ran (CROSSSLOT): published the cluster's way below
        bump_keys = (version_key(job, client_id), applied_stamp_key(job, client_id))
        version, outcome, _ = self._redis.run("eval", BUMP_LUA, len(bump_keys), *bump_keys, change_stamp, derived)
        self._redis.run(
            "eval", FINISH_LUA, 1, status_key(job, client_id), blob_json, version, self._status_ttl_seconds, outcome
        )
        return int(version)

    def republish(self, job: JobName, stamps: dict[str, str]) -> list[str]:
        """Put back each version Redis lost: for every workspace whose version key is missing (or not recount's), or
        whose applied stamp is older than its committed change stamp (`stamps`, read from PostgreSQL), the bump of
        that stamp. Reads every key in one MGET (one per slot in a cluster); returns the workspaces whose version
        was written."""
        if not stamps:
            return []
        try:
            return self._republish(job, stamps)
        except ClusterFoundError:  # REDIS_CLUSTER=auto: the MGET's CROSSSLOT showed a cluster; read it its way
            return self._republish(job, stamps)

    def _republish(self, job: JobName, stamps: dict[str, str]) -> list[str]:
        ids, cluster = list(stamps), self.in_cluster_mode
        kinds = [version_key, applied_stamp_key] + ([] if cluster else [legacy_applied_stamp_key])
        values = self._redis.call(
            "mget_nonatomic" if cluster else "mget", [kind(job, c) for kind in kinds for c in ids]
        )
        written = []
        for i, client_id in enumerate(ids):
            applied = max((value for value in values[len(ids) + i :: len(ids)] if value is not None), default=None)
            if _is_version(values[i]) and applied is not None and applied >= stamps[client_id]:
                continue
            keys = [kind(job, client_id) for kind in kinds]
            stamp = stamps[client_id]
            _, _, wrote = self._redis.call("eval", BUMP_LUA, len(keys), *keys, stamp, version_for_stamp(stamp))
            if wrote != "kept":
                written.append(client_id)
        return written

    def reconcile_cursor(self, job: JobName) -> str:
        """The workspace the sweep's last check of versions ended on ("": start from the first)."""
        return str(self._redis.run("get", reconcile_cursor_key(job)) or "")

    def set_reconcile_cursor(self, job: JobName, after: str) -> None:
        self._redis.run("set", reconcile_cursor_key(job), after)

    def read_version(self, job: JobName, client_id: str) -> int:
        value = self._redis.run("get", version_key(job, client_id))
        return int(value) if value is not None else 0

    def read_status(self, job: JobName, client_id: str) -> StatusBlob | None:
        value = self._redis.run("get", status_key(job, client_id))
        return StatusBlob.model_validate_json(cast(str, value)) if value is not None else None

    def slo_misses(self, limit: int) -> list[SloMiss]:
        """The oldest `limit` members of the analytics SLO-miss set, each with its score as the server wrote it."""
        # score_cast_func=str: the score's own text, which the removal compares with ZSCORE's.
        rows = self._redis.run("zrange", ANALYTICS_SLO_MISS_KEY, 0, limit - 1, False, True, str)
        return [SloMiss(member, score) for member, score in rows]

    def remove_slo_misses(self, misses: list[SloMiss]) -> int:
        """Remove each member whose score is still the one read: a miss re-reported since stays for the next sweep."""
        if not misses:
            return 0
        pairs = [text for miss in misses for text in (miss.member, miss.score)]
        return int(self._redis.run("eval", REMOVE_UNCHANGED_LUA, 1, ANALYTICS_SLO_MISS_KEY, *pairs))

    def close(self) -> None:
        self._redis.close()
