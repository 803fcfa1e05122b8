"""preflight of the stores: each secret holds a URL the functions can use, encrypted with a key they may read;
with --connect, each store answers from here and PostgreSQL holds what recount migrates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from infra.config import StageConfig
from recount.commands.preflight import Check, Preflight, _error
from recount.commands.preflight_network import functions_group, timed_out, unanswered
from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_url import parse_database_url
from shared.adapters.redis_store import RedisStore
from shared.adapters.redis_url import check_redis_url
from shared.adapters.secrets import url_from_secret
from shared.contracts.errors import RecountError

# cdk.json ships secret ARNs in these example accounts; a deploy with them cannot read its stores.
EXAMPLE_ACCOUNTS = {"111111111111", "222222222222"}
PLACEHOLDER_HOSTS = {"example.com", "host", "hostname", "localhost", "127.0.0.1"}
# The URL schemes each store's adapter connects with.
STORE_SCHEMES = {"database": {"postgres", "postgresql"}, "redis": {"redis", "rediss"}}
# What `recount migrate --recount-only` creates in the app's database.
RECOUNT_OBJECTS = (
    "AnalyticsDailyAggregates",
    "AIDraft_recount_review_leadId_idx",
    "Message_recount_aiSent_leadId_idx",
    "Lead_recount_snoozedUntil_idx",
)


def store_checks(
    client: Callable[[str], Any], config: StageConfig, report: Preflight, *, connect: bool
) -> Iterator[Check]:
    for store, arn, scheme in (
        ("database", config.database_secret_arn, "postgresql"),
        ("redis", config.redis_secret_arn, "rediss"),
    ):
        check, url = _secret(client, config, store, arn, scheme)
        yield check
        if check.passed and connect:
            yield reach(store, url, functions=lambda: functions_group(client, config, report.stack_name))


def _secret(client: Callable[[str], Any], config: StageConfig, store: str, arn: str, scheme: str) -> tuple[Check, str]:
    """The store's secret: readable, a URL of the store's scheme for a real host, one the functions would accept,
    encrypted with a key they may use. With the URL it holds ("" when it could not be read)."""
    name = f"{store} secret"
    if arn.split(":")[4] in EXAMPLE_ACCOUNTS:
        return Check(name, False, f"{arn} is cdk.json's example", f"set the stage's {store}SecretArn"), ""
    secrets = client("secretsmanager")
    try:
        text = secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
        url = url_from_secret(text, scheme=scheme)
        parts = urlsplit(url)
        host, url_scheme = parts.hostname or "", parts.scheme
        key = secrets.describe_secret(SecretId=arn).get("KmsKeyId")
    except ClientError as error:
        return Check(name, False, f"{arn}: {_error(error)}", "create it, or let the deploying role read it"), ""
    except (RecountError, ValueError) as error:
        fix = "store a URL or the RDS-style JSON (see docs/deploying.md)"
        return Check(name, False, f"{arn}: {_error(error)}", fix), ""
    if url_scheme not in STORE_SCHEMES[store] or not host:
        wanted = " or ".join(sorted(STORE_SCHEMES[store]))
        return Check(name, False, f"{arn}: not a {wanted} URL with a host", f"store the {store}'s URL"), url
    if host in PLACEHOLDER_HOSTS:
        return Check(name, False, f"{arn} points at {host!r}, a placeholder", "store the real endpoint"), url
    try:  # what the functions would refuse at start (the TLS files are the functions', not this machine's)
        _ = parse_database_url(url, tls_files=False) if store == "database" else check_redis_url(url)
    except RecountError as error:
        fix = f"store a {store} URL recount can use (see docs/deploying.md)"
        return Check(name, False, f"{arn}: {_error(error)}", fix), url
    if key and not key.endswith("alias/aws/secretsmanager") and key != config.secrets_kms_key_arn:
        detail = f"{arn} is encrypted with {key}, which the functions get no grant for"
        return Check(name, False, detail, "set the stage's secretsKmsKeyArn to that key's ARN"), url
    return Check(name, True, f"{arn}: a {url_scheme} URL for {host}"), url


def reach(store: str, url: str, *, functions: Callable[[], str] = lambda: "the functions") -> Check:
    """With --connect: the store answers from here and, for PostgreSQL, holds what recount migrates; on a timeout,
    which inbound rule to add where (`functions`: whom the store's group must admit)."""
    try:
        if store == "redis":
            cache = RedisStore(url)
            try:
                cache.ping()
            finally:
                cache.close()
            return Check("redis reachable", True, "PING answered")
        database = PostgresDatabase(url)
        try:
            rows = database.run(
                "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(quote_ident(name)) IS NULL",
                names=list(RECOUNT_OBJECTS),
            )
        finally:
            database.close()
    except RecountError as error:
        if timed_out(error):
            return unanswered(store, url, functions())
        return Check(f"{store} reachable", False, str(error), "check the network path from here, or drop --connect")
    missing = [row["name"] for row in rows]
    return Check(
        "database schema",
        not missing,
        f"missing: {', '.join(missing)}" if missing else "recount's table and indexes are there",
        "run `recount migrate --recount-only` against it",
    )
