"""Database and Redis URLs from Secrets Manager (through Powertools parameters, cached), or from settings."""

from __future__ import annotations

import json
from urllib.parse import quote

from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.settings import StoreSettings

SECRET_MAX_AGE_SECONDS = 300


def _secret_text(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters  # only the functions read secrets

    try:
        value = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.GetParameterError as error:
        raise TransientError(f"secret {arn}: {' '.join(str(error).split())}") from error
    return value if isinstance(value, str) else value.decode()


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


def database_url(settings: StoreSettings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if settings.database_secret_arn:
        return url_from_secret(_secret_text(settings.database_secret_arn), scheme="postgresql")
    raise PermanentError("neither DATABASE_URL nor DATABASE_SECRET_ARN is set")


def redis_url(settings: StoreSettings) -> str:
    if settings.redis_url is not None:
        return settings.redis_url.get_secret_value()
    if settings.redis_secret_arn:
        return url_from_secret(_secret_text(settings.redis_secret_arn), scheme="rediss")
    raise PermanentError("neither REDIS_URL nor REDIS_SECRET_ARN is set")
