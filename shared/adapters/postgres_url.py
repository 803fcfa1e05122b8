"""DATABASE_URL read as libpq reads a URI: where to connect (host, port, user, password, dbname, from the URI or
its query), TLS (the sslmode family), connect_timeout, application_name, and the session's settings (`options`,
Prisma's `schema`); what recount cannot honour is refused in one line that names the parameter. Also what the
endpoint's name says (an RDS Proxy, which pools; the region an IAM token is for)."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.postgres_settings import options_settings, quoted_identifier
from shared.contracts.errors import PermanentError
from shared.contracts.store_settings import PooledMode, url_query

# An RDS Proxy endpoint: <name>.proxy-<id>.<region>.rds.amazonaws.com (.com.cn in China).
_RDS_PROXY_HOST = re.compile(r"\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com(\.cn)?$")
# Any RDS endpoint names its region; an IAM token is signed for that region.
_RDS_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.rds\.amazonaws\.com(?:\.cn)?$")

# libpq's parameters recount honours, and the values it can honour for those it only accepts.
_HONOURED = {"host", "port", "user", "password", "dbname", "options", "application_name", "fallback_application_name"}
_HONOURED |= {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}
_ACCEPTED_VALUES = {
    "client_encoding": {"utf8", "utf-8", "unicode", "auto"},  # pg8000 speaks UTF-8 only
    "target_session_attrs": {"any"},  # one host: no choosing among them
    "load_balance_hosts": {"disable", "random"},  # one host: either is the same
    "channel_binding": {"disable", "prefer"},  # require: pg8000 cannot insist on SCRAM-SHA-256-PLUS (use verify-full)
    "gssencmode": {"disable", "prefer"},  # prefer without Kerberos credentials falls back as libpq's does
    "sslnegotiation": {"postgres"},
    "sslsni": {"1"},
    "sslcompression": {"0", "1"},  # ignored by libpq since TLS compression went away
}
# libpq's other parameters: valid for psql, not something recount can do.
_LIBPQ_UNSUPPORTED = {"hostaddr", "passfile", "require_auth", "keepalives", "keepalives_idle", "keepalives_interval"}
_LIBPQ_UNSUPPORTED |= {"keepalives_count", "tcp_user_timeout", "replication", "sslpassword", "sslcertmode", "sslcrl"}
_LIBPQ_UNSUPPORTED |= {"sslcrldir", "ssl_min_protocol_version", "ssl_max_protocol_version", "requirepeer"}
_LIBPQ_UNSUPPORTED |= {"krbsrvname", "gsslib", "gssdelegation", "service", "requiressl", "scram_client_key"}
_LIBPQ_UNSUPPORTED |= {"scram_server_key", "min_protocol_version", "max_protocol_version", "oauth_issuer"}
_LIBPQ_UNSUPPORTED |= {"oauth_client_id", "oauth_client_secret", "oauth_scope"}
# Prisma's own: its pool's and cache's sizes (nothing to do with one connection), or TLS that sslmode says here.
_PRISMA_POOL = {"connection_limit", "pool_timeout", "socket_timeout", "statement_cache_size", "pgbouncer"}
_PRISMA_UNSUPPORTED = {"sslaccept", "sslidentity"}


@dataclass(frozen=True)
class DatabaseUrl:
    """What a DATABASE_URL says, parsed once."""

    host: str
    port: int
    user: str
    password: str | None
    database: str | None
    ssl_context: ssl.SSLContext | bool | None
    application_name: str
    connect_timeout_s: float | None  # None: the URL sets no bound (libpq waits for ever; recount its own)
    settings: dict[str, str] = field(default_factory=dict)  # the session's, from options and schema

    def connection_kwargs(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "ssl_context": self.ssl_context,
            "application_name": self.application_name,
        }


def _decoded(text: str, what: str) -> str:
    """libpq's percent-decoding: strict (a stray % or %00 is refused), '+' stays '+'."""
    out = bytearray()
    index = 0
    while index < len(text):
        if text[index] == "%":
            pair = text[index + 1 : index + 3]
            if len(pair) != 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                raise PermanentError(f"DATABASE_URL: invalid percent-encoded token in the {what}")
            if pair == "00":
                raise PermanentError(f"DATABASE_URL: forbidden value %00 in the {what}")
            out.append(int(pair, 16))
            index += 3
        else:
            out.extend(text[index].encode())
            index += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise PermanentError(f"DATABASE_URL: the {what} is not UTF-8 once percent-decoded") from None


def _uri_parts(url: str) -> dict[str, str]:
    """libpq's conninfo_uri_parse_options: the authority and path, then the query's parameters over them."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in ("postgresql", "postgres"):
        raise PermanentError("DATABASE_URL must start with postgresql:// (or postgres://)")
    authority_and_path, _, query = rest.partition("?")
    authority, slash, path = authority_and_path.partition("/")
    values: dict[str, str] = {}
    userinfo, at, hostlist = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        values["user"] = _decoded(user, "user name")
        if colon:
            values["password"] = _decoded(password, "password")
    host, port = _host_and_port(hostlist)
    values |= {"host": _decoded(host, "host")} if host else {}
    values |= {"port": port} if port else {}
    if slash and path:
        values["dbname"] = _decoded(path, "database name")
    for pair in filter(None, query.split("&")):
        key, equals, value = pair.partition("=")
        if not equals or "=" in value:
            raise PermanentError(f'DATABASE_URL: missing or extra "=" in URI query parameter "{key}"')
        key, value = _decoded(key, "query"), _decoded(value, "query")
        if key == "ssl" and value == "true":  # libpq takes the JDBC spelling as sslmode=require
            key, value = "sslmode", "require"
        values[key] = value  # the last one wins, as in libpq
    return values


def _host_and_port(hostlist: str) -> tuple[str, str]:
    if "," in hostlist:
        raise PermanentError("DATABASE_URL names several hosts (h1,h2): recount connects to one, name one host")
    if hostlist.startswith("["):  # an IPv6 address
        address, bracket, port = hostlist[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise PermanentError("DATABASE_URL: an IPv6 host must be written [address] or [address]:port")
        return address, port[1:]
    host, _, port = hostlist.partition(":")
    return host, port


def _integer(value: str, name: str) -> int:
    """libpq's parse_int_param: an integer, spaces around it allowed."""
    try:
        return int(value.strip())
    except ValueError:
        raise PermanentError(f'DATABASE_URL: invalid integer value "{value}" for {name}') from None


def _check_parameters(values: dict[str, str]) -> None:
    for name, value in values.items():
        if name in _HONOURED or name in _PRISMA_POOL or name == "schema":
            continue
        if name in _ACCEPTED_VALUES:
            if value.lower() not in _ACCEPTED_VALUES[name]:
                accepted = ", ".join(sorted(_ACCEPTED_VALUES[name]))
                raise PermanentError(f"DATABASE_URL: {name}={value} is not supported by recount (only {accepted})")
        elif name in _LIBPQ_UNSUPPORTED or name in _PRISMA_UNSUPPORTED:
            raise PermanentError(f"DATABASE_URL: the parameter {name} is not supported by recount")
        else:
            raise PermanentError(f'DATABASE_URL: invalid URI query parameter: "{name}"')


def _session_settings(values: dict[str, str]) -> dict[str, str]:
    settings = options_settings(values.get("options", ""))
    settings = {name: value for name, value in settings.items() if name.lower() != "application_name"}
    if "schema" in values:  # Prisma's: the schema its tables are in, quoted as Prisma quotes it
        if any(name.lower() == "search_path" for name in settings):
            raise PermanentError("DATABASE_URL sets search_path twice: in schema= and in options=-csearch_path")
        settings["search_path"] = quoted_identifier(values["schema"])
    return settings


def parse_database_url(url: str, *, tls_files: bool = True) -> DatabaseUrl:
    """Everything recount reads from a DATABASE_URL; a PermanentError naming the parameter it cannot honour.
    Without `tls_files` the CA and certificate files are not read (a check on a machine that does not have them)."""
    values = _uri_parts(url.strip())
    _check_parameters(values)
    host = values.get("host") or "localhost"
    if "," in host:
        raise PermanentError("DATABASE_URL names several hosts (host=h1,h2): recount connects to one, name one host")
    if host.startswith(("/", "@")):
        raise PermanentError("DATABASE_URL names a Unix-domain socket: recount connects over TCP, name a host")
    port = _integer(values.get("port") or "5432", "port")
    if not 1 <= port <= 65535:
        raise PermanentError(f'DATABASE_URL: invalid port number "{values["port"]}"')
    timeout = _integer(values.get("connect_timeout") or "0", "connect_timeout")
    return DatabaseUrl(
        host=host,
        port=port,
        user=values.get("user") or "postgres",
        password=values.get("password") or None,
        database=values.get("dbname") or None,
        ssl_context=_ssl_context(values, tls_files=tls_files),
        application_name=values.get("application_name") or values.get("fallback_application_name") or "recount",
        connect_timeout_s=max(timeout, 2) if timeout > 0 else None,  # libpq: at least 2 s; 0 or less, no bound
        settings=_session_settings(values),
    )


def connection_kwargs(url: str) -> dict[str, Any]:
    """pg8000 keyword arguments from a postgresql:// URL."""
    return parse_database_url(url).connection_kwargs()


def _host(url: str) -> str:
    """The host a URL names (from its query too); "" when the URL cannot be read (the connection says why)."""
    try:
        return (_uri_parts(url.strip()).get("host") or "").lower().rstrip(".")  # no TLS context made for this
    except PermanentError:
        return ""


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


def _ssl_context(values: dict[str, str], *, tls_files: bool = True) -> ssl.SSLContext | bool | None:
    sslmode, sslrootcert = values.get("sslmode") or "prefer", values.get("sslrootcert")
    if values.get("sslcert") and sslmode in ("disable", "allow", "prefer"):
        raise PermanentError(f"DATABASE_URL: sslcert needs sslmode=require or stronger, not {sslmode}")
    if sslmode == "disable":
        return False
    if sslmode in ("allow", "prefer"):
        return None  # pg8000: try TLS without verification, fall back to plain (libpq's "prefer")
    if sslrootcert == "system" and sslmode != "verify-full":  # libpq 16's rule for the system's trust store
        raise PermanentError(f"sslrootcert=system needs sslmode=verify-full, not {sslmode}")
    if sslmode not in ("require", "verify-ca", "verify-full"):
        raise PermanentError(f"DATABASE_URL: invalid sslmode value: {sslmode!r}")
    try:
        cafile = None if sslrootcert in (None, "", "system") or not tls_files else sslrootcert
        context = ssl.create_default_context(cafile=cafile)
        if (
            values.get("sslcert") and tls_files
        ):  # a client certificate, with its key (libpq: a separate file, unencrypted)
            context.load_cert_chain(values["sslcert"], values.get("sslkey") or None)
    except (OSError, ssl.SSLError) as error:
        raise PermanentError(f"DATABASE_URL: a TLS file cannot be read: {error.strerror or error}") from None
    if sslmode == "require" and sslrootcert:  # libpq: with a CA file, require verifies as verify-ca does
        context.check_hostname = False
    elif sslmode == "require":  # libpq's meaning: encrypt, do not verify the server
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif sslmode == "verify-ca":
        context.check_hostname = False
    return context
