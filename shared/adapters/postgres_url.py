"""DATABASE_URL read as libpq reads it: the connection's arguments for pg8000 (TLS by sslmode and
sslrootcert), and what the endpoint's name says (an RDS Proxy, which pools; the region an IAM token is for)."""

from __future__ import annotations

import re
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.contracts.errors import PermanentError
from shared.contracts.settings import PooledMode, url_query

# An RDS Proxy endpoint: <name>.proxy-<id>.<region>.rds.amazonaws.com (.com.cn in China).
_RDS_PROXY_HOST = re.compile(r"\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?$")
# Any RDS endpoint names its region; an IAM token is signed for that region.
_RDS_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.rds\.amazonaws\.com(?:\.cn)?$")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def rds_region(url: str) -> str | None:
    """The region an RDS endpoint names (an IAM token is signed for it); None for a name of your own."""
    match = _RDS_REGION.search(_host(url))
    return match.group(1) if match else None


def is_pooled(url: str, mode: PooledMode = "auto") -> bool:
    """Whether DATABASE_URL reaches PostgreSQL through a transaction pooler, which may hand each transaction
    another backend: an RDS Proxy endpoint, or a URL marked as Prisma marks a pooler (`?pgbouncer=true`)."""
    if mode != "auto":
        return mode == "true"
    return url_query(url).get("pgbouncer", "").lower() in ("true", "1") or bool(_RDS_PROXY_HOST.search(_host(url)))


def _ssl_context(sslmode: str | None, sslrootcert: str | None = None) -> ssl.SSLContext | bool | None:
    if sslmode == "disable":
        return False
    if sslmode in (None, "", "allow", "prefer"):
        return None  # pg8000: try TLS without verification, fall back to plain (libpq's "prefer")
    if sslrootcert == "system" and sslmode != "verify-full":  # libpq 16's rule for the system's trust store
        raise PermanentError(f"sslrootcert=system needs sslmode=verify-full, not {sslmode}")
    try:
        context = ssl.create_default_context(cafile=None if sslrootcert in (None, "", "system") else sslrootcert)
    except OSError as error:
        raise PermanentError(f"sslrootcert {sslrootcert!r} cannot be read: {error.strerror or error}") from None
    if sslmode == "require" and sslrootcert:  # libpq: with a CA file, require verifies as verify-ca does
        context.check_hostname = False
    elif sslmode == "require":  # libpq's meaning: encrypt, do not verify the server
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif sslmode == "verify-ca":
        context.check_hostname = False
    elif sslmode != "verify-full":
        raise PermanentError(f"unsupported sslmode {sslmode!r}")
    return context


def connection_kwargs(url: str) -> dict[str, Any]:
    """pg8000 keyword arguments from a postgresql:// URL (sslmode and application_name honoured)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise PermanentError("DATABASE_URL must start with postgresql://")
    query = url_query(url)
    return {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "database": unquote(parts.path.lstrip("/")) or None,
        "ssl_context": _ssl_context(query.get("sslmode"), query.get("sslrootcert")),
        "application_name": query.get("application_name", "recount"),
    }
