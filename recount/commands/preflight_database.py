"""preflight for a stage with `databaseIamAuth`: the RDS Proxy, instance or Aurora cluster it names exists in the
stage's account and region, serves PostgreSQL, and takes IAM authentication (else every connection is refused)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from infra.config import DatabaseIamAuthConfig
from recount.commands.preflight import Check

NAME = "iam database auth"
# resourceId's prefix -> (describe call, list key, the resource id's field, what it is)
_KINDS = {
    "prx": ("describe_db_proxies", "DBProxies", "DBProxyArn", "RDS Proxy"),
    "db": ("describe_db_instances", "DBInstances", "DbiResourceId", "DB instance"),
    "cluster": ("describe_db_clusters", "DBClusters", "DbClusterResourceId", "Aurora cluster"),
}


def database_checks(client: Callable[[str], Any], iam: DatabaseIamAuthConfig | None) -> Iterator[Check]:
    if iam is None:
        return
    operation, key, id_field, kind = _KINDS[iam.resource_id.split("-", 1)[0]]
    pages = client("rds").get_paginator(operation).paginate()
    found = [
        resource
        for page in pages
        for resource in page[key]
        # a proxy's resource id is the last part of its ARN (arn:aws:rds:<region>:<account>:db-proxy:prx-…)
        if resource.get(id_field, "").rsplit(":", 1)[-1] == iam.resource_id
    ]
    if not found:
        yield Check(
            NAME,
            False,
            f"no {kind} with resource id {iam.resource_id} in the stage's account and region",
            f"set databaseIamAuth.resourceId to the {kind}'s resource id (not its name)",
        )
        return
    resource = found[0]
    engine = resource.get("EngineFamily") or resource.get("Engine", "")
    if "postgres" not in engine.lower():
        yield Check(NAME, False, f"{iam.resource_id} runs {engine}, not PostgreSQL", "name a PostgreSQL one")
        return
    if kind == "RDS Proxy":
        modes = {auth.get("IAMAuth", "DISABLED") for auth in resource.get("Auth", [])}
        takes_iam = bool(modes & {"REQUIRED", "ENABLED"})
        where, fix = resource.get("Endpoint", ""), "set IAM authentication to required on the proxy's secret"
    else:
        takes_iam = bool(resource.get("IAMDatabaseAuthenticationEnabled"))
        endpoint = resource.get("Endpoint", "")
        where = endpoint.get("Address", "") if isinstance(endpoint, dict) else endpoint
        fix = f"turn on IAM database authentication on the {kind}, and grant rds_iam to {iam.user}"
    if not takes_iam:
        yield Check(NAME, False, f"{kind} {where} does not take IAM authentication: every token is refused", fix)
        return
    yield Check(NAME, True, f"{kind} {where} takes IAM tokens; the functions may connect as {iam.user}")
