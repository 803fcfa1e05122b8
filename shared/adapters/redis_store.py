"""Redis adapter: cache versions and status blobs; owns the redis client and translates its errors."""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.exceptions import RedisError
from redis.maint_notifications import MaintNotificationsConfig

from shared import deadline
from shared.adapters.redis_errors import RECONNECT, classify_redis_error
from shared.contracts.keys import ANALYTICS_SLO_MISS_KEY, JobName, applied_stamp_key, status_key, version_key
from shared.contracts.settings import redis_call_bound_s
from shared.contracts.status import StatusBlob

# INCR the version only if the committed change stamp is newer than the one it already stands for, then
# write the final status blob carrying that version: one round trip; a retried bump never bumps twice,
# and a publish that arrives late (older stamp) neither bumps nor overwrites a newer status -- except the
# job's own `running` blob (same request, message and start), which it always ends: a job whose lock query
# read a stamp just before another run's commit must not leave its status at `running`.
# Stamps are fixed-width ISO-8601 UTC strings, so string order is time order.
_PUBLISH_LUA = """
local applied = redis.call('GET', KEYS[2])
local version
if applied and ARGV[1] < applied then
  version = tonumber(redis.call('GET', KEYS[1]) or '0')
  local stored = redis.pcall('GET', KEYS[3])  -- a key of another type or a value that is not JSON: not ours
  local blob = cjson.decode(ARGV[2])
  local decoded, own = false, nil
  if type(stored) == 'string' then decoded, own = pcall(cjson.decode, stored) end
  if decoded and type(own) == 'table' then
    local function field(t, k) if t[k] == cjson.null then return nil end return t[k] end
    if own['status'] == 'running' and own['requestId'] == blob['requestId']
       and field(own, 'messageId') == field(blob, 'messageId') and own['startedAt'] == blob['startedAt'] then
      blob['version'] = version
      redis.call('SET', KEYS[3], cjson.encode(blob), 'EX', tonumber(ARGV[3]))
    end
  end
  return version
elseif applied == ARGV[1] then
  version = tonumber(redis.call('GET', KEYS[1]) or '0')
else
  version = redis.call('INCR', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1])
end
local blob = cjson.decode(ARGV[2])
blob['version'] = version
redis.call('SET', KEYS[3], cjson.encode(blob), 'EX', tonumber(ARGV[3]))
return version
"""


class RedisStore:
    """One lazily created client (its pool reconnects by itself); short timeouts, TLS with rediss://."""

    def __init__(self, url: str, *, timeout_s: float = 3.0, status_ttl_seconds: int = 86_400) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._status_ttl_seconds = status_ttl_seconds
        self._client: redis.Redis | None = None
        self.commands = 0  # commands sent; wire round trips are counted outside (recount.wire)

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(
                self._url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                health_check_interval=30,
                decode_responses=True,
                # A new connection makes only the round trips its bound counts (settings.REDIS_STEPS_PER_CALL):
                # RESP2 (no HELLO: AUTH when there is a password), no CLIENT SETINFO, no maintenance notifications.
                protocol=2,
                driver_info=None,
                maint_notifications_config=MaintNotificationsConfig(enabled=False),
            )
        return self._client

    def _call(self, operation: str, *args: Any) -> Any:
        deadline.ensure(redis_call_bound_s(self._timeout_s), f"redis {operation}")
        self.commands += 1
        try:
            return getattr(self.client, operation)(*args)
        except RedisError as error:
            if isinstance(error, RECONNECT):
                self.client.connection_pool.disconnect()
            raise classify_redis_error(error) from error

    def ping(self) -> None:
        self._call("ping")

    def write_status(self, blob: StatusBlob) -> None:
        self._call("set", status_key(blob.jobName, blob.clientId), blob.model_dump_json(), self._status_ttl_seconds)

    def publish(self, blob: StatusBlob, change_stamp: str | None) -> int:
        """Bump the version if `change_stamp` is new, write the final status with it; return the version."""
        if change_stamp is None:  # nothing was ever materialized (no such workspace): no version to move
            self.write_status(blob)
            return self.read_version(blob.jobName, blob.clientId)
        keys = (
            version_key(blob.jobName, blob.clientId),
            applied_stamp_key(blob.jobName, blob.clientId),
            status_key(blob.jobName, blob.clientId),
        )
        version = self._call(
            "eval",
            _PUBLISH_LUA,
            len(keys),
            *keys,
            change_stamp,
            blob.model_dump_json(exclude_none=True),
            self._status_ttl_seconds,
        )
        return int(version)

    def read_version(self, job: JobName, client_id: str) -> int:
        value = self._call("get", version_key(job, client_id))
        return int(value) if value is not None else 0

    def read_status(self, job: JobName, client_id: str) -> StatusBlob | None:
        value = self._call("get", status_key(job, client_id))
        return StatusBlob.model_validate_json(cast(str, value)) if value is not None else None

    def slo_misses(self, limit: int) -> list[str]:
        """The oldest `limit` members of the analytics SLO-miss set."""
        return list(self._call("zrange", ANALYTICS_SLO_MISS_KEY, 0, limit - 1))

    def remove_slo_misses(self, members: list[str]) -> None:
        if members:
            self._call("zrem", ANALYTICS_SLO_MISS_KEY, *members)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
