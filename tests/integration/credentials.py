"""Stores whose passwords the test rotates: a database on a PostgreSQL that checks passwords (SCRAM), owned by
a role of its own, and a Redis with `requirepass`; each store's URL in a moto Secrets Manager secret, changed as
Secrets Manager's rotation changes it (the store's password first, then the secret's current value)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from recount.migrations import migrate
from shared.adapters.postgres import PostgresDatabase


@dataclass
class PasswordDatabase:
    """A migrated database owned by `role`, which logs in with a password; the superuser's URL to it (`admin_url`)
    never changes, so the test's own connections outlive every rotation."""

    server_url: str  # the superuser on the server's postgres database
    role: str
    password: str = "first-password"

    @property
    def _host(self) -> str:
        return self.server_url.rsplit("@", 1)[1].rsplit("/", 1)[0]

    @property
    def admin_url(self) -> str:
        return f"{self.server_url.rsplit('/', 1)[0]}/{self.role}"

    def url(self, password: str | None = None) -> str:
        """The role's URL, with its password now (or the one given)."""
        return f"postgresql://{self.role}:{password or self.password}@{self._host}/{self.role}"

    @classmethod
    def create(cls, server_url: str) -> PasswordDatabase:
        created = cls(server_url, f"recount_{uuid.uuid4().hex[:10]}")
        admin = PostgresDatabase(server_url)
        try:
            admin.run(f"CREATE ROLE {created.role} LOGIN PASSWORD '{created.password}'")
            admin.run(f"CREATE DATABASE {created.role} OWNER {created.role}")
        finally:
            admin.close()
        owner = PostgresDatabase(created.url())
        try:
            migrate(owner)
        finally:
            owner.close()
        return created

    def rotate(self, password: str) -> None:
        """The rotation's setSecret step: the role's password changes in the database (SCRAM-hashed)."""
        self._admin("ALTER ROLE {role} PASSWORD '" + password + "'")
        self.password = password

    def end_sessions(self) -> int:
        """Terminate every session of the role: the next statement of each must connect, and authenticate, again."""
        rows = self._admin(
            "SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity WHERE usename = '{role}'"
        )
        return int(rows[0]["ended"])

    def drop(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {role} WITH (FORCE)")
        self._admin("DROP ROLE IF EXISTS {role}")

    def _admin(self, sql: str) -> list[dict[str, Any]]:
        admin = PostgresDatabase(self.server_url)
        try:
            return admin.run(sql.format(role=self.role))
        finally:
            admin.close()


def rotate_redis_password(url: str, old: str, new: str) -> None:
    """requirepass changes on the server, and every client connection is closed (a new one must AUTH again)."""
    admin = redis.Redis.from_url(url, password=old)
    try:
        admin.config_set("requirepass", new)
        admin.client_kill_filter(_type="normal", skipme=True)
    finally:
        admin.close()


def create_secret(secrets: Any, value: str) -> str:
    return str(secrets.create_secret(Name=f"recount/{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"])


def put_secret(secrets: Any, arn: str, value: str) -> None:
    """The rotation's finishSecret step: the secret's current value is the new one."""
    secrets.put_secret_value(SecretId=arn, SecretString=value)
