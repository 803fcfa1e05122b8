"""The stores' settings: where PostgreSQL and Redis are, how recount reaches them and how long it waits, with
the URL readings they are validated by. The variable names are `EnvVar`'s (shared.contracts.settings)."""

from __future__ import annotations

from typing import Literal, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from shared.contracts.settings import SETTINGS_CONFIG, EnvVar
from shared.contracts.time_budget import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_LOCK_TIMEOUT_MS,
    DEFAULT_REDIS_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    REDIS_STEPS_PER_CALL,
    SECRET_READ_LIMITS,
    StoreTimeouts,
)

# REDIS_CLUSTER: "auto" finds a cluster by its first redirection (MOVED, ASK, CROSSSLOT); the others say it.
ClusterMode = Literal["auto", "true", "false"]
CLUSTER_MODES: tuple[str, ...] = get_args(ClusterMode)
# DATABASE_POOLED: "auto" reads DATABASE_URL (an RDS Proxy endpoint, or ?pgbouncer=true); the others say it.
PooledMode = Literal["auto", "true", "false"]


def url_query(url: str) -> dict[str, str]:
    """A URL's query parameters as libpq reads them: percent-decoded only (a '+' stays a '+'); the last wins."""
    pairs = (pair.partition("=") for pair in urlsplit(url).query.split("&") if pair)
    return {unquote(key): unquote(value) for key, _, value in pairs}


def iam_auth_problem(database_url: str) -> str | None:
    """Why DATABASE_URL cannot carry an IAM authentication token, in one line; None when it can: the token goes
    only to a server that proved who it is (verify-ca or verify-full, or require with a CA file, as libpq)."""
    query = url_query(database_url)
    sslmode = query.get("sslmode")
    if sslmode in ("verify-ca", "verify-full") or (sslmode == "require" and query.get("sslrootcert")):
        return None
    return (
        "DATABASE_IAM_AUTH=true sends a token as the password, so DATABASE_URL must verify the server: add "
        "sslmode=verify-full (with sslrootcert=<CA file> when the system does not trust its CA), not "
        + (f"sslmode={sslmode}" if sslmode else "no sslmode")
    )


def redis_database(url: str) -> int:
    """The database a Redis URL selects: its path (redis://host/3) or its db query parameter; 0 when neither."""
    parsed = urlsplit(url)
    for value in (parsed.path.strip("/"), *parse_qs(parsed.query).get("db", [])):
        if value.isdigit():
            return int(value)
    return 0


class StoreSettings(BaseSettings):
    """Where PostgreSQL and Redis are and how long recount waits for them."""

    model_config = SETTINGS_CONFIG

    database_url: SecretStr | None = Field(
        None,
        alias=EnvVar.DATABASE_URL,
        description="`postgresql://user:pass@host:5432/db?sslmode=verify-full` (`disable`, `prefer`, `require`, "
        "`verify-ca`, `verify-full`; `sslrootcert=<file>` trusts that CA bundle instead of the system's, and makes "
        "`require` verify the CA as libpq does; `sslrootcert=system` is the system's store, with `verify-full` "
        "only). Read as libpq reads it: host, port, user, password and dbname may also be query parameters; "
        "`options=-c name=value` (percent-encoded, e.g. `options=-csearch_path%3Dapp`; a backslash escapes a "
        "space) and Prisma's `schema=app` become the session's settings (sent with `SET LOCAL` in each "
        "transaction when pooled), but recount's own `statement_timeout`, `lock_timeout`, `TimeZone`, `jit` and "
        "`plan_cache_mode` win; `application_name` (else `fallback_application_name`, else recount); "
        "`connect_timeout` can only shorten `CONNECT_TIMEOUT_SECONDS`. Prisma's `connection_limit`, "
        "`pool_timeout`, `socket_timeout` and `statement_cache_size` are ignored. Refused in one line: several "
        "hosts, Unix sockets, `target_session_attrs` other than `any`, `channel_binding=require`, and any "
        "parameter libpq does not know",
    )
    database_secret_arn: str | None = Field(
        None,
        alias=EnvVar.DATABASE_SECRET_ARN,
        description="the functions' PostgreSQL, instead of `DATABASE_URL`: the secret holds a URL or RDS-style "
        "JSON (`username`, `password`, `host`, `port`, `dbname`; TLS `verify-full`), read at start through "
        f"Powertools parameters over a client bounded to a {SECRET_READ_LIMITS.connect_s:g} s connect, a "
        f"{SECRET_READ_LIMITS.read_s:g} s read and {SECRET_READ_LIMITS.attempts} attempts; read again, past the "
        "cache, by the next connection when PostgreSQL refuses the credentials (a rotated password), so a "
        "rotation retries the record, never dead-letters it",
    )
    redis_url: SecretStr | None = Field(
        None,
        alias=EnvVar.REDIS_URL,
        description="`redis://`, `rediss://` (TLS) or `unix://`; the database as `/N` or `?db=N`; only TLS "
        "(`ssl_*`) parameters, with `rediss://`; timeouts come from `REDIS_TIMEOUT_SECONDS`, never from the URL. "
        "A malformed URL (either store's) is one line, at start: the CLI, the local runtime and the functions",
    )
    redis_secret_arn: str | None = Field(
        None,
        alias=EnvVar.REDIS_SECRET_ARN,
        description='the functions\' Redis, instead of `REDIS_URL`: the secret holds a URL or `{"url": …}` or '
        "JSON with `host`/`port`/`password` (`rediss://`); read again, and a new client made, when Redis refuses "
        "the credentials (`WRONGPASS`/`NOAUTH`)",
    )
    redis_cluster: ClusterMode = Field(
        "auto",
        alias=EnvVar.REDIS_CLUSTER,
        description="`auto` takes the server for one node until it answers as a cluster node (`MOVED`, `ASK` or "
        "`CROSSSLOT`, before running anything), then uses the cluster client for good and sends the command "
        "again: a single node pays nothing for the question. `true` says it is a cluster (ElastiCache "
        "Serverless, sharded ElastiCache), `false` that it is not. On a cluster, redis-py's cluster client "
        "follows one `MOVED`/`ASK`/`TRYAGAIN` redirection (a second is a transient error), patches only that "
        "slot on `MOVED`, and refreshes the slots from the configuration endpoint alone; every command touches "
        "keys of one slot, the URL must select database 0, and the publish is two commands (bump, then status). "
        "Each command and the making of the client then take longer at worst, so a cluster stage says "
        "`redisCluster: true`, which sets `true` here and makes the synth check a cluster's "
        "[time budget](#time-budget). With `auto` on a cluster the first command also tries the node once (one "
        "node's command bound more), which the synth does not count",
    )
    statement_timeout_ms: int = Field(
        DEFAULT_STATEMENT_TIMEOUT_MS,
        alias=EnvVar.STATEMENT_TIMEOUT_MS,
        ge=100,
        le=600_000,
        description="set on every PostgreSQL session (with `TimeZone` UTC), or on every transaction when pooled",
    )
    lock_timeout_ms: int = Field(
        DEFAULT_LOCK_TIMEOUT_MS,
        alias=EnvVar.LOCK_TIMEOUT_MS,
        ge=10,
        le=60_000,
        description="set with `STATEMENT_TIMEOUT_MS`, and must be the shorter, so a lock wait ends as busy",
    )
    connect_timeout_s: float = Field(
        DEFAULT_CONNECT_TIMEOUT_S,
        alias=EnvVar.CONNECT_TIMEOUT_SECONDS,
        gt=0,
        le=60,
        description="connecting to PostgreSQL: the TCP connect and each step of the startup exchange. Redis has "
        "`REDIS_TIMEOUT_SECONDS`, SQS and DynamoDB the `AWS_*` settings",
    )
    redis_timeout_s: float = Field(
        DEFAULT_REDIS_TIMEOUT_S,
        alias=EnvVar.REDIS_TIMEOUT_SECONDS,
        gt=0,
        le=60,
        description="each step of a Redis command (TCP connect, TLS handshake, each reply). A command takes at "
        f"most {REDIS_STEPS_PER_CALL} steps: a new connection is TCP, TLS and two replies (AUTH and SELECT, or "
        "the health check's PING and SELECT), redis-py's pool may make it twice before the command, then the reply",
    )
    prepared_statements: bool = Field(
        True,
        alias=EnvVar.DATABASE_PREPARED_STATEMENTS,
        description="statements with parameters are prepared once per connection (then one round trip each, not "
        "pg8000's three). Behind a transaction-mode pooler (Supavisor or PgBouncer in transaction mode, port "
        "6543 on Supabase, RDS Proxy) use `DATABASE_POOLED` or add `?pgbouncer=true` to the URL as for Prisma, "
        "which also turn this off: such a pooler hands each transaction another backend, where a named statement "
        "is missing or is another client's (and PgBouncer refuses a connection whose startup message carries "
        "recount's session settings: `unsupported startup parameter`)",
    )
    pooled: PooledMode = Field(
        "auto",
        alias=EnvVar.DATABASE_POOLED,
        description="`true`: PostgreSQL is reached through a transaction pooler (RDS Proxy, PgBouncer in "
        "transaction mode), so the session keeps no state a pooler would pin it for: the session settings are "
        "sent as `SET LOCAL` in the same message as each `BEGIN` (no extra round trip), a statement outside a "
        "transaction runs in a transaction of its own (two more trips: only the sweep and the operator commands "
        "have such statements), and nothing is prepared by name (each statement with parameters takes pg8000's "
        "three trips). `auto` turns it on for an RDS Proxy endpoint (`*.proxy-*.<region>.rds.amazonaws.com`) and "
        "for `?pgbouncer=true`; a name of your own for a proxy (a CNAME) needs `true`; `false` keeps session "
        "settings even then. Pooled, a session-level `SET` or `RESET` is refused before it is sent (one line; "
        "`SET LOCAL` is the transaction's). `recount migrate` refuses a pooled URL (run it against the "
        "database's own endpoint)",
    )
    iam_auth: bool = Field(
        False,
        alias=EnvVar.DATABASE_IAM_AUTH,
        description="`true`: the password is an IAM authentication token that boto3 signs for each new connection "
        "(`generate_db_auth_token`, from the environment's credentials and region; no call to AWS, valid 15 "
        "minutes), sent only to a server that proved who it is: `DATABASE_URL` must say `sslmode=verify-full` or "
        "`verify-ca` (or `require` with an `sslrootcert`, which libpq then verifies against), or the settings are "
        "refused in one line. The token is signed for the region the endpoint's name holds "
        "(`….<region>.rds.amazonaws.com`), else the environment's. A refused token is a transient error (the "
        "next connection brings a new one)",
    )

    @model_validator(mode="after")
    def _cluster_has_database_zero_only(self) -> StoreSettings:
        database = redis_database(self.redis_url.get_secret_value()) if self.redis_url is not None else 0
        if self.redis_cluster == "true" and database:
            raise ValueError(
                f"REDIS_URL selects database {database}, but a Redis Cluster (REDIS_CLUSTER=true) has only "
                f"database 0: drop the /{database}"
            )
        return self

    @model_validator(mode="after")
    def _iam_auth_over_tls(self) -> StoreSettings:
        url = self.database_url.get_secret_value() if self.database_url is not None else None
        if self.iam_auth and url is not None and (problem := iam_auth_problem(url)) is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _lock_wait_ends_first(self) -> StoreSettings:
        # A lock wait must end as "busy" (55P03, a delayed copy), not as a statement timeout (57014, a retry
        # that spends a receive).
        if self.lock_timeout_ms >= self.statement_timeout_ms:
            raise ValueError(
                f"LOCK_TIMEOUT_MS ({self.lock_timeout_ms}) must be less than STATEMENT_TIMEOUT_MS "
                f"({self.statement_timeout_ms}): a lock wait must end as busy, not as a statement timeout"
            )
        return self

    @property
    def timeouts(self) -> StoreTimeouts:
        """What the time budget counts with (`shared.contracts.time_budget`)."""
        return StoreTimeouts(
            self.statement_timeout_ms, self.lock_timeout_ms, self.connect_timeout_s, self.redis_timeout_s
        )
