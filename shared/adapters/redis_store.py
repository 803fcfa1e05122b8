"""Redis adapter: cache versions and status blobs; owns the redis client and translates its errors."""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AskError, ClusterCrossSlotError, MovedError, RedisClusterException, RedisError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from shared import deadline
from shared.adapters.redis_errors import CREDENTIALS_REFUSED, RECONNECT, carried_error, classify_redis_error
from shared.adapters.redis_scripts import BUMP_LUA, FINISH_LUA, PUBLISH_LUA, REMOVE_UNCHANGED_LUA
from shared.adapters.redis_url import check_redis_url
from shared.adapters.secrets import StoreUrl, store_url
from shared.contracts.errors import PermanentError, TransientError
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
from shared.contracts.settings import CLUSTER_MODES, redis_database
from shared.contracts.status import StatusBlob
from shared.contracts.time_budget import CLUSTER_CLIENT_BOUNDS, redis_call_bound_s, redis_command_bound_s
from shared.ports import SloMiss

# Raised by redis-py's cluster client itself (it found no node to serve a slot, or none to ask): in redis-py 8
# these derive from Exception, not RedisError. Classified by shared/adapters/redis_errors.py like the rest.
CLUSTER_CLIENT_ERRORS = (RedisClusterException,)
# What only a cluster node answers: its slot is served elsewhere, or one command's keys span slots.
_CLUSTER_ANSWERS = (MovedError, AskError, ClusterCrossSlotError)


def _is_version(value: str | None) -> bool:
    """A version recount can move on from: an integer below 2^53 (the bump treats anything else as lost)."""
    return value is not None and value.isdigit() and len(value) <= 16 and int(value) < 2**53


class _ClusterFoundError(Exception):
    """REDIS_CLUSTER=auto: the server answered as a cluster node; the store now holds the cluster client."""


class RedisStore:
    """One lazily created client (its pools reconnect by themselves); short timeouts, TLS with rediss://.

    `cluster`: "true" uses redis-py's cluster client, which follows MOVED and ASK redirections; "false" the
    single-node client; "auto" (the default) the single-node client until the server answers as a cluster node
    (MOVED, ASK or CROSSSLOT, which it answers before running anything), then the cluster client for good, with
    the command sent again through it. So a single node pays nothing for the question. In cluster mode every
    command recount sends touches keys of one slot. Credentials the server refuses (WRONGPASS, NOAUTH) are read
    again (`url.refresh()`: the secret, after a rotation) and the next command gets a new client."""

    def __init__(
        self, url: str | StoreUrl, *, timeout_s: float = 3.0, status_ttl_seconds: int = 86_400, cluster: str = "auto"
    ) -> None:
        if cluster not in CLUSTER_MODES:
            raise PermanentError(f"REDIS_CLUSTER is {cluster!r}: use one of {', '.join(CLUSTER_MODES)}")
        self._source = store_url(url)
        self._url = check_redis_url(self._source.current())  # a bad URL is one line here, not redis-py's ValueError
        self._credentials_refused = False  # the server refused them: the next client reads them again
        self._timeout_s = timeout_s
        self._status_ttl_seconds = status_ttl_seconds
        self._cluster = cluster
        self._found_cluster = False  # auto: the server answered as a cluster node once, so it is one for good
        self._client: redis.Redis | redis.RedisCluster | None = None
        self.commands = 0  # commands sent; wire round trips are counted outside (recount.wire)

    @property
    def client(self) -> redis.Redis | redis.RedisCluster:
        if self._client is None:
            if self._credentials_refused:
                try:
                    self._url = check_redis_url(self._source.refresh())
                except PermanentError as error:  # a secret mid-edit: the environment's, never the record's
                    raise TransientError(f"the Redis secret, read again: {error}") from error
                self._credentials_refused = False
            self._client = self._cluster_client() if self.in_cluster_mode else self._single_client()
        return self._client

    @property
    def in_cluster_mode(self) -> bool:
        return self._cluster == "true" or self._found_cluster

    def _options(self) -> dict[str, Any]:
        return {
            "socket_timeout": self._timeout_s,
            "socket_connect_timeout": self._timeout_s,
            "health_check_interval": 30,
            "decode_responses": True,
            # A new connection makes only the round trips its bound counts (time_budget.REDIS_STEPS_PER_CALL): RESP2
            # (no HELLO: AUTH when there is a password), no CLIENT SETINFO, no maintenance notifications.
            "protocol": 2,
            "driver_info": None,
            "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        }

    def _single_client(self) -> redis.Redis:
        return redis.Redis.from_url(self._url, **self._options())  # connects on its first command

    def _cluster_client(self) -> redis.RedisCluster:
        database = redis_database(self._url)
        if database:
            raise PermanentError(
                f"REDIS_URL selects database {database}, but a Redis Cluster has only database 0: drop the /{database}"
            )
        # It asks the endpoint for the slots' owners (CLUSTER SLOTS) and the commands' key positions (COMMAND) as it
        # is made, each on a new connection, and refreshes the slots once more if COMMAND's connection failed.
        deadline.ensure(CLUSTER_CLIENT_BOUNDS * redis_call_bound_s(self._timeout_s), "redis CLUSTER SLOTS")
        client = redis.RedisCluster.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),  # no retry of its own: a failed command is the record's to retry
            reinitialize_steps=0,  # a MOVED moves its slot only: no refresh of every slot inside a command
            dynamic_startup_nodes=False,  # a refresh asks the configuration endpoint alone, not every node
            **self._options(),
        )
        # One redirection at most (MOVED, ASK or TRYAGAIN), not redis-py's 16: a command's bound stays
        # time_budget.CLUSTER_COMMAND_BOUNDS; a second redirection is a transient error, the record's to retry.
        client.RedisClusterRequestTTL = 2
        return client

    def _call(self, operation: str, *args: Any) -> Any:
        """One command; raises _ClusterFoundError when REDIS_CLUSTER=auto finds a cluster (the command did not run)."""
        try:
            client = self.client
            cluster = isinstance(client, redis.RedisCluster)
            deadline.ensure(redis_command_bound_s(self._timeout_s, cluster=cluster), f"redis {operation}")
            self.commands += 1
            return getattr(client, operation)(*args)
        except CLUSTER_CLIENT_ERRORS as error:  # the cluster client's own: not a RedisError
            if isinstance(error.__cause__, CREDENTIALS_REFUSED):  # made with no node taking the credentials
                self._refused_credentials()
            raise classify_redis_error(error) from error
        except RedisError as error:
            if self._cluster == "auto" and isinstance(error, _CLUSTER_ANSWERS) and not self.in_cluster_mode:
                self._use_cluster()
                raise _ClusterFoundError from error
            if isinstance(carried_error(error), RECONNECT):  # also when a script met it (Redis < 7 wraps it)
                self._reconnect()
            elif isinstance(error, CREDENTIALS_REFUSED):
                self._refused_credentials()
            raise classify_redis_error(error) from error

    def _run(self, operation: str, *args: Any) -> Any:
        """`_call`, sent again through the cluster client when the first answer showed a cluster."""
        try:
            return self._call(operation, *args)
        except _ClusterFoundError:
            return self._call(operation, *args)

    def _use_cluster(self) -> None:
        single, self._client, self._found_cluster = self._client, None, True
        if single is not None:
            single.close()
        try:
            self._client = self._cluster_client()
        except (RedisError, *CLUSTER_CLIENT_ERRORS) as error:
            raise classify_redis_error(error) from error

    def _refused_credentials(self) -> None:
        """The next command makes a new client, from the URL read again (its pools keep the old password)."""
        self.close()
        self._credentials_refused = True

    def _reconnect(self) -> None:
        """Drop the connections that still reach a demoted primary: a new one follows the endpoint (or, in a
        cluster, a new client asks the cluster which node now serves each slot)."""
        if isinstance(self._client, redis.RedisCluster):
            self.close()
        elif self._client is not None:
            self._client.connection_pool.disconnect()

    def ping(self) -> None:
        self._run("ping")

    def write_status(self, blob: StatusBlob) -> None:
        self._run("set", status_key(blob.jobName, blob.clientId), blob.model_dump_json(), self._status_ttl_seconds)

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
                    self._call(
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
            except _ClusterFoundError:
                pass  # refused before it ran (CROSSSLOT): published the cluster's way below
        bump_keys = (version_key(job, client_id), applied_stamp_key(job, client_id))
        version, outcome, _ = self._run("eval", BUMP_LUA, len(bump_keys), *bump_keys, change_stamp, derived)
        self._run(
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
        except _ClusterFoundError:  # REDIS_CLUSTER=auto: the MGET's CROSSSLOT showed a cluster; read it its way
            return self._republish(job, stamps)

    def _republish(self, job: JobName, stamps: dict[str, str]) -> list[str]:
        ids, cluster = list(stamps), self.in_cluster_mode
        kinds = [version_key, applied_stamp_key] + ([] if cluster else [legacy_applied_stamp_key])
        values = self._call("mget_nonatomic" if cluster else "mget", [kind(job, c) for kind in kinds for c in ids])
        written = []
        for i, client_id in enumerate(ids):
            applied = max((value for value in values[len(ids) + i :: len(ids)] if value is not None), default=None)
            if _is_version(values[i]) and applied is not None and applied >= stamps[client_id]:
                continue
            keys = [kind(job, client_id) for kind in kinds]
            stamp = stamps[client_id]
            _, _, wrote = self._call("eval", BUMP_LUA, len(keys), *keys, stamp, version_for_stamp(stamp))
            if wrote != "kept":
                written.append(client_id)
        return written

    def reconcile_cursor(self, job: JobName) -> str:
        """The workspace the sweep's last check of versions ended on ("": start from the first)."""
        return str(self._run("get", reconcile_cursor_key(job)) or "")

    def set_reconcile_cursor(self, job: JobName, after: str) -> None:
        self._run("set", reconcile_cursor_key(job), after)

    def read_version(self, job: JobName, client_id: str) -> int:
        value = self._run("get", version_key(job, client_id))
        return int(value) if value is not None else 0

    def read_status(self, job: JobName, client_id: str) -> StatusBlob | None:
        value = self._run("get", status_key(job, client_id))
        return StatusBlob.model_validate_json(cast(str, value)) if value is not None else None

    def slo_misses(self, limit: int) -> list[SloMiss]:
        """The oldest `limit` members of the analytics SLO-miss set, each with its score as the server wrote it."""
        # score_cast_func=str: the score's own text, which the removal compares with ZSCORE's.
        rows = self._run("zrange", ANALYTICS_SLO_MISS_KEY, 0, limit - 1, False, True, str)
        return [SloMiss(member, score) for member, score in rows]

    def remove_slo_misses(self, misses: list[SloMiss]) -> int:
        """Remove each member whose score is still the one read: a miss re-reported since stays for the next sweep."""
        if not misses:
            return 0
        pairs = [text for miss in misses for text in (miss.member, miss.score)]
        return int(self._run("eval", REMOVE_UNCHANGED_LUA, 1, ANALYTICS_SLO_MISS_KEY, *pairs))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
