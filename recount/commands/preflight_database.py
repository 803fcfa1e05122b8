"""preflight for a stage with `databaseIamAuth`: the RDS Proxy, DB instance or DB cluster it names exists in the
stage's account and region, serves PostgreSQL, and takes IAM tokens for the stage's user (else every
connection is refused)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.config_access import DatabaseIamAuthConfig
from recount.commands.preflight import Check, _error

NAME = "iam database auth"
# resourceId's prefix -> (describe call, list key, the resource id's field, what it is)
_KINDS = {
    "prx": ("describe_db_proxies", "DBProxies", "DBProxyArn", "RDS Proxy"),
    "db": ("describe_db_instances", "DBInstances", "DbiResourceId", "DB instance"),
    "cluster": ("describe_db_clusters", "DBClusters", "DbClusterResourceId", "DB cluster"),
}
_TAKES_IAM = {"REQUIRED", "ENABLED"}


def database_checks(client: Callable[[str], Any], iam: DatabaseIamAuthConfig | None) -> Iterator[Check]:
    if iam is None:
        return
    operation, key, id_field, kind = _KINDS[iam.resource_id.split("-", 1)[0]]
    try:
        found = [
            resource
            for page in client("rds").get_paginator(operation).paginate()
            for resource in page[key]
            # a proxy's resource id is the last part of its ARN (arn:aws:rds:<region>:<account>:db-proxy:prx-…)
            if resource.get(id_field, "").rsplit(":", 1)[-1] == iam.resource_id
        ]
    except (ClientError, BotoCoreError) as error:
        yield Check(NAME, False, f"cannot read the {kind}: {_error(error)}", f"allow rds:{_action(operation)}")
        return
    if not found:
        yield Check(
            NAME,
            False,
            f"no {kind} with resource id {iam.resource_id} in the stage's account and region",
            f"set databaseIamAuth.resourceId to the {kind}'s resource id (not its name)",
        )
        return
    yield _takes_tokens(found[0], kind, iam)


def _action(operation: str) -> str:
    return "".join(word.capitalize() for word in operation.split("_")).replace("Db", "DB")


def _takes_tokens(resource: dict[str, Any], kind: str, iam: DatabaseIamAuthConfig) -> Check:
    engine = resource.get("EngineFamily") or resource.get("Engine", "")
    if "postgres" not in engine.lower():
        return Check(NAME, False, f"{iam.resource_id} runs {engine}, not PostgreSQL", "name a PostgreSQL one")
    if kind == "DB instance" and (resource.get("DBClusterIdentifier") or engine.startswith("aurora")):
        return Check(
            NAME,
            False,
            f"{iam.resource_id} is an instance of the cluster {resource.get('DBClusterIdentifier', '?')}: "
            "rds-db:connect on it refuses every token",
            "set databaseIamAuth.resourceId to the cluster's resource id (cluster-…)",
        )
    if kind == "RDS Proxy":
        where = resource.get("Endpoint", "")
        auths = resource.get("Auth", [])
        # The entry for the stage's user decides; entries that name no user are the proxy's secrets' users.
        chosen = [a for a in auths if a.get("UserName") == iam.user] or [a for a in auths if not a.get("UserName")]
        takes_iam = resource.get("DefaultAuthScheme") == "IAM_AUTH" or any(
            a.get("IAMAuth") in _TAKES_IAM for a in chosen
        )
        fix = f"set IAM authentication to required for {iam.user} on the proxy"
    else:
        endpoint = resource.get("Endpoint", "")
        where = endpoint.get("Address", "") if isinstance(endpoint, dict) else endpoint
        takes_iam = bool(resource.get("IAMDatabaseAuthenticationEnabled"))
        fix = f"turn on IAM database authentication on the {kind}, and grant rds_iam to {iam.user}"
    if not takes_iam:
        return Check(NAME, False, f"{kind} {where} does not take IAM tokens for {iam.user}: each is refused", fix)
    return Check(NAME, True, f"{kind} {where} takes IAM tokens; the functions may connect as {iam.user}")
