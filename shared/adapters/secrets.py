"""Database and Redis URLs: as given (DATABASE_URL, REDIS_URL), or from Secrets Manager through Powertools
parameters over a client with short timeouts; read again, past any cache, after a store refused the credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from shared import deadline
from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.store_settings import StoreSettings
from shared.contracts.time_budget import SECRET_READ_LIMITS, AwsCallLimits

SECRET_MAX_AGE_SECONDS = 300


class StoreUrl(Protocol):
    """Where a store is, credentials included: `current()` to connect with; `refresh()` read again from its
    source, which the adapters call when the store refused the credentials (a rotated password)."""

    def current(self) -> str: ...

    def refresh(self) -> str: ...


@dataclass(frozen=True)
class FixedUrl:
    """A URL given as it is (DATABASE_URL, REDIS_URL, the CLI, the local runtime): nothing to read again."""

    url: str

    def current(self) -> str:
        return self.url

    def refresh(self) -> str:
        return self.url


def store_url(url: str | StoreUrl) -> StoreUrl:
    return FixedUrl(url) if isinstance(url, str) else url


def secrets_client(limits: AwsCallLimits = SECRET_READ_LIMITS) -> Any:
    """A Secrets Manager client bounded by `limits` (botocore's default waits 60 s a read, over several attempts)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "secretsmanager",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": limits.attempts},
            connect_timeout=limits.connect_s,
            read_timeout=limits.read_s,
        ),
    )


class SecretUrl:
    """A URL held in a Secrets Manager secret (the URL itself, or RDS-style JSON): read on first use and kept;
    `refresh()` reads it again past Powertools' cache (force_fetch), so a rotated secret is never missed."""

    def __init__(self, arn: str, *, scheme: str) -> None:
        self.arn = arn
        self._scheme = scheme
        self._provider: Any = None
        self._url: str | None = None

    @property
    def provider(self) -> Any:
        """Powertools' SecretsProvider over the bounded client, made on the first read."""
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider  # only the functions read secrets

            self._provider = SecretsProvider(boto3_client=secrets_client())
        return self._provider

    def current(self) -> str:
        if self._url is None:
            self._url = self._read(force_fetch=False)
        return self._url

    def refresh(self) -> str:
        # Made inside a record's work: not started unless its worst case fits before the record's deadline.
        deadline.ensure(SECRET_READ_LIMITS.bound_s, "secret read")
        try:
            self._url = self._read(force_fetch=True)
        except PermanentError as error:  # the environment's secret, not the record: never a dead letter at once
            raise TransientError(f"secret {self.arn} read again: {error}") from error
        return self._url

    def _read(self, *, force_fetch: bool) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self.provider.get(self.arn, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch)
        except GetParameterError as error:
            raise TransientError(f"secret {self.arn}: {' '.join(str(error).split())}") from error
        text = value.decode() if isinstance(value, bytes) else str(value)
        return url_from_secret(text, scheme=self._scheme)


def url_from_secret(text: str, *, scheme: str) -> str:
    """A secret holds either the URL itself or RDS-style JSON (username, password, host, port, dbname)."""
    stripped = text.strip()
    if stripped.startswith(("postgres://", "postgresql://", "redis://", "rediss://")):
        return stripped
    try:
        fields = json.loads(stripped)
    except ValueError:
        raise PermanentError("secret is neither a URL nor JSON") from None
    if not isinstance(fields, dict):
        raise PermanentError("secret JSON must be an object")
    if "url" in fields:
        if not isinstance(fields["url"], str) or not fields["url"]:
            raise PermanentError("secret JSON has an empty or non-string url")
        return fields["url"]
    try:
        user = quote(str(fields.get("username", "")), safe="")
        password = quote(str(fields.get("password", "")), safe="")
        credentials = f"{user}:{password}@" if user or password else ""
        host, port = fields["host"], fields.get("port")
        path = f"/{fields['dbname']}" if fields.get("dbname") else ""
        query = "?sslmode=verify-full" if scheme == "postgresql" else ""
    except KeyError as missing:
        raise PermanentError(f"secret JSON has no {missing}") from None
    return f"{scheme}://{credentials}{host}{f':{port}' if port else ''}{path}{query}"


def database_url(settings: StoreSettings) -> StoreUrl:
    if settings.database_url is not None:
        return FixedUrl(settings.database_url.get_secret_value())
    if settings.database_secret_arn:
        return SecretUrl(settings.database_secret_arn, scheme="postgresql")
    raise PermanentError("neither DATABASE_URL nor DATABASE_SECRET_ARN is set")


def redis_url(settings: StoreSettings) -> StoreUrl:
    if settings.redis_url is not None:
        return FixedUrl(settings.redis_url.get_secret_value())
    if settings.redis_secret_arn:
        return SecretUrl(settings.redis_secret_arn, scheme="rediss")
    raise PermanentError("neither REDIS_URL nor REDIS_SECRET_ARN is set")
