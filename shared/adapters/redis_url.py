"""A Redis URL checked before redis-py reads it: redis-py raises a bare ValueError for some mistakes (no scheme, a
bad port) and silently drops others (a database that is not a number), or lets the URL override recount's own
bounds (socket_timeout=...). Each is a one-line PermanentError here."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from shared.contracts.errors import PermanentError

# What a URL may set: the database, and TLS for rediss:// (ElastiCache's ssl_cert_reqs=none, a CA file...).
_TLS_PARAMETERS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"}
_TLS_PARAMETERS |= {"ssl_min_version", "ssl_ciphers", "ssl_password"}
# Set by recount itself from its settings (the time budget counts on them): a URL may not change them.
_RECOUNT_OWN = {"socket_timeout", "socket_connect_timeout", "timeout", "health_check_interval", "protocol"}
_RECOUNT_OWN |= {"retry_on_timeout", "retry_on_error", "socket_keepalive", "max_connections", "decode_responses"}


def _database(text: str, where: str) -> int:
    if not text.isdigit():
        raise PermanentError(f"REDIS_URL: the database {where} must be a number, not {text!r}")
    return int(text)


def check_redis_url(url: str) -> str:
    """The URL itself when redis-py will read it as written; else a PermanentError naming what is wrong."""
    if not url.strip():
        raise PermanentError("REDIS_URL is empty")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.partition("://")[0] if "://" in url else ""
        shown = f"not {scheme}://" if scheme.isalnum() and len(scheme) < 16 else "it has no scheme"
        raise PermanentError(f"REDIS_URL must start with redis://, rediss:// or unix:// ({shown})")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:  # redis-py takes port 0 for "no port" and goes to 6379
        raise PermanentError("REDIS_URL: the port must be a number from 1 to 65535")
    query = parse_qs(parts.query, keep_blank_values=True)
    for name in query:
        if name in _RECOUNT_OWN:
            raise PermanentError(f"REDIS_URL: {name} is set by recount itself: drop it")
        if name != "db" and (name not in _TLS_PARAMETERS or parts.scheme != "rediss"):
            raise PermanentError(f"REDIS_URL: the query parameter {name} is not supported by recount")
    for value in query.get("db", []):
        _database(value, "in ?db=")
    path = unquote(parts.path).strip("/")
    if parts.scheme != "unix" and path:
        _database(path, "in the path")
    if len(query.get("db", [])) + bool(parts.scheme != "unix" and path) > 1:  # redis-py would pick one in silence
        raise PermanentError("REDIS_URL: the database is given more than once (the path and ?db=): keep one")
    return url
