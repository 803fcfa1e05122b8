"""The Redis connection: owns the redis client (one node or a cluster), bounds each command by the record's
deadline, and translates the client's errors into domain errors. What runs on it is shared/adapters/redis_store.py."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AskError, ClusterCrossSlotError, MovedError, RedisClusterException, RedisError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from shared import deadline
from shared.adapters.redis_errors import CREDENTIALS_REFUSED, RECONNECT, carried_error, classify_redis_error
from shared.adapters.redis_url import check_redis_url
from shared.adapters.secrets import StoreUrl, store_url
from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.store_settings import CLUSTER_MODES, redis_database
from shared.contracts.time_budget import CLUSTER_CLIENT_BOUNDS, redis_call_bound_s, redis_command_bound_s

# Raised by redis-py's cluster client itself (it found no node to serve a slot, or none to ask): in redis-py 8
# these derive from Exception, not RedisError. Classified by shared/adapters/redis_errors.py like the rest.
CLUSTER_CLIENT_ERRORS = (RedisClusterException,)
# What only a cluster node answers: its slot is served elsewhere, or one command's keys span slots.
_CLUSTER_ANSWERS = (MovedError, AskError, ClusterCrossSlotError)


class ClusterFoundError(Exception):
    """REDIS_CLUSTER=auto: the server answered as a cluster node; the connection now holds the cluster client."""


class RedisConnection:
    """One lazily created client (its pools reconnect by themselves); short timeouts, TLS with rediss://.

    `cluster`: "true" uses redis-py's cluster client, which follows MOVED and ASK redirections; "false" the
    single-node client; "auto" (the default) the single-node client until the server answers as a cluster node
    (MOVED, ASK or CROSSSLOT, which it answers before running anything), then the cluster client for good, with
    the command sent again through it. So a single node pays nothing for the question. In cluster mode every
    command recount sends touches keys of one slot. Credentials the server refuses (WRONGPASS, NOAUTH) are read
    again (`url.refresh()`: the secret, after a rotation) and the next command gets a new client."""

    def __init__(self, url: str | StoreUrl, *, timeout_s: float, cluster: str) -> None:
        if cluster not in CLUSTER_MODES:
            raise PermanentError(f"REDIS_CLUSTER is {cluster!r}: use one of {', '.join(CLUSTER_MODES)}")
        self._source = store_url(url)
        self._url = check_redis_url(self._source.current())  # a bad URL is one line here, not redis-py's ValueError
        self._credentials_refused = False  # the server refused them: the next client reads them again
        self._timeout_s = timeout_s
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

    def call(self, operation: str, *args: Any) -> Any:
        """One command; raises ClusterFoundError when REDIS_CLUSTER=auto finds a cluster (the command did not run)."""
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
                raise ClusterFoundError from error
            if isinstance(carried_error(error), RECONNECT):  # also when a script met it (Redis < 7 wraps it)
                self._reconnect()
            elif isinstance(error, CREDENTIALS_REFUSED):
                self._refused_credentials()
            raise classify_redis_error(error) from error

    def run(self, operation: str, *args: Any) -> Any:
        """`call`, sent again through the cluster client when the first answer showed a cluster."""
        try:
            return self.call(operation, *args)
        except ClusterFoundError:
            return self.call(operation, *args)

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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
