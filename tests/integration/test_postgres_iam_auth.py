"""DATABASE_IAM_AUTH=true: each connection signs a new IAM token with boto3 (credentials and region from the
environment, here moto's) and sends it as the password, over TLS only.

The server here is a stand-in that speaks PostgreSQL's startup exchange over real TLS and asks for a cleartext
password, as RDS and RDS Proxy do for IAM authentication, then records it and refuses: a real PostgreSQL cannot
check an IAM token, and what matters is what the adapter sends.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws
from pydantic import ValidationError

from shared.adapters.postgres import PostgresDatabase
from shared.adapters.postgres_url import rds_region
from shared.contracts.errors import PermanentError, TransientError
from shared.contracts.store_settings import StoreSettings

SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _read(conn: ssl.SSLSocket | socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


@dataclass
class PasswordServer:
    """Accepts connections, requires TLS, asks for a cleartext password and records the startup and password."""

    cert: Path
    key: Path
    logins: list[tuple[dict[str, str], str]] = field(default_factory=list)
    plain_attempts: int = 0
    accepted: int = 0

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, self.key)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                self._login(conn)
            except (OSError, ConnectionError):
                pass
            finally:
                conn.close()

    def _login(self, raw: socket.socket) -> None:
        if _read(raw, 8) != SSL_REQUEST:
            self.plain_attempts += 1
            return
        raw.sendall(b"S")
        conn = self.context.wrap_socket(raw, server_side=True)
        length = int.from_bytes(_read(conn, 4), "big")
        body = _read(conn, length - 4)[4:]  # after the protocol version
        words = body.split(b"\0")
        startup = {words[i].decode(): words[i + 1].decode() for i in range(0, len(words) - 2, 2) if words[i]}
        conn.sendall(b"R" + (8).to_bytes(4, "big") + (3).to_bytes(4, "big"))  # AuthenticationCleartextPassword
        assert _read(conn, 1) == b"p"
        password = _read(conn, int.from_bytes(_read(conn, 4), "big") - 4).rstrip(b"\0").decode()
        self.logins.append((startup, password))
        fields = b"SFATAL\0VFATAL\0C28P01\0" + b'MPAM authentication failed for user "recount"\0\0'
        conn.sendall(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PasswordServer]:
    running = PasswordServer(*_self_signed(tmp_path))
    yield running
    running.close()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield


def _token_fields(token: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit("//" + token)
    return f"{parts.hostname}:{parts.port}", {key: values[-1] for key, values in parse_qs(parts.query).items()}


def test_given_iam_auth_then_each_connection_sends_a_new_token_for_its_host_and_user_over_tls(
    server: PasswordServer, aws: None
) -> None:
    url = f"postgresql://recount@127.0.0.1:{server.port}/app?sslmode=verify-full&sslrootcert={server.cert}"
    db = PostgresDatabase(url, iam_auth=True, connect_timeout_s=5)
    # The refusal of a token is one line, and transient: the next connection brings a new token
    with pytest.raises(TransientError, match=r"^postgres 28P01: .* \(IAM token refused: rds-db:connect") as refused:
        db.run("SELECT 1")
    assert "\n" not in str(refused.value)
    time.sleep(1.1)  # a token is signed to the second: a new connection a second later must bring a new one
    with pytest.raises(TransientError):
        db.run("SELECT 1")
    (startup, first), (_, second) = server.logins
    assert startup["user"] == "recount" and startup["database"] == "app"
    assert first != second
    for token in (first, second):
        endpoint, fields = _token_fields(token)
        assert endpoint == f"127.0.0.1:{server.port}"
        assert fields["Action"] == "connect" and fields["DBUser"] == "recount"
        assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and fields["X-Amz-Expires"] == "900"
        assert fields["X-Amz-Credential"].endswith("/eu-west-1/rds-db/aws4_request")
        assert len(fields["X-Amz-Signature"]) == 64
    assert server.plain_attempts == 0


def test_given_iam_auth_and_a_url_that_does_not_require_tls_then_it_is_refused_in_one_line() -> None:
    message = r"DATABASE_IAM_AUTH=true sends a token as the password, so DATABASE_URL must verify the server"
    for url in (
        "postgresql://recount@db/app",
        "postgresql://recount@db/app?sslmode=prefer",
        "postgresql://recount@db/app?sslmode=require",  # encrypted, but to whoever answers
    ):
        with pytest.raises(PermanentError, match=message):
            PostgresDatabase(url, iam_auth=True)
        with pytest.raises(ValidationError, match=message):
            StoreSettings(DATABASE_URL=url, DATABASE_IAM_AUTH="true")
    for url in (
        "postgresql://recount@db/app?sslmode=verify-full",
        "postgresql://recount@db/app?sslmode=require&sslrootcert=/opt/rds/global-bundle.pem",  # libpq: verifies
    ):
        assert StoreSettings(DATABASE_URL=url, DATABASE_IAM_AUTH="true").iam_auth


def test_given_iam_auth_without_a_region_then_the_error_is_one_line_and_permanent(
    server: PasswordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    db = PostgresDatabase(
        f"postgresql://recount@127.0.0.1:{server.port}/app?sslmode=verify-full&sslrootcert={server.cert}", iam_auth=True
    )
    with pytest.raises(PermanentError, match=r"^cannot make an IAM token for postgres: You must specify a region"):
        db.run("SELECT 1")
    assert server.accepted == 0, "the token comes first: no socket was opened for it"


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca", "require"])
def test_given_a_server_certificate_not_signed_by_sslrootcert_then_no_password_is_sent(
    server: PasswordServer, aws: None, tmp_path: Path, sslmode: str
) -> None:
    (tmp_path / "other").mkdir()
    other, _ = _self_signed(tmp_path / "other")
    url = f"postgresql://recount@127.0.0.1:{server.port}/app?sslmode={sslmode}&sslrootcert={other}"
    db = PostgresDatabase(url, iam_auth=True, connect_timeout_s=5)
    with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
        db.run("SELECT 1")
    assert server.logins == [], "no token may reach a server that could not prove who it is"


def test_sslrootcert_system_is_the_systems_store_and_needs_verify_full() -> None:
    with pytest.raises(PermanentError, match=r"^sslrootcert=system needs sslmode=verify-full, not verify-ca$"):
        PostgresDatabase("postgresql://recount@db/app?sslmode=verify-ca&sslrootcert=system")
    PostgresDatabase("postgresql://recount@db/app?sslmode=verify-full&sslrootcert=system", iam_auth=True)


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("recount.proxy-c1a2b3c4d5e6.us-west-2.rds.amazonaws.com", "us-west-2"),
        ("db-1.c1a2b3c4d5e6.us-gov-west-1.rds.amazonaws.com", "us-gov-west-1"),
        ("recount.cluster-c1a2b3c4d5e6.cn-north-1.rds.amazonaws.com.cn", "cn-north-1"),
        ("db.internal.example.com", None),  # a name of your own: the environment's region signs
    ],
)
def test_a_token_is_signed_for_the_region_the_endpoint_names(host: str, region: str | None) -> None:
    assert rds_region(f"postgresql://recount@{host}:5432/app?sslmode=verify-full") == region
