"""A real transaction pooler for the pooled tests: pgbouncer in transaction mode in front of the test server.

`.ci/run` installs it when it is missing; a test that needs it fails without it (never skips), so pooled
behaviour is never reported as passing without a pooler in the way."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from recount.servers.throwaway import free_port, port_open

SERVER_HOST, SERVER_PORT = "127.0.0.1", 5432


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("pgbouncer is not installed: `bash .ci/run` installs it (apt-get install pgbouncer)")
    return found


@contextmanager
def transaction_pooler(directory: Path, user: str = "postgres") -> Iterator[int]:
    """pgbouncer on a free port, transaction pooling to 127.0.0.1:5432 for any database; yields its port."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "userlist.txt").write_text(f'"{user}" ""\n', encoding="utf-8")
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={SERVER_HOST} port={SERVER_PORT}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'userlist.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 20\n",
        encoding="utf-8",
    )
    command = [pgbouncer_binary(), str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root; it reads its files before it changes user
        command[1:1] = ["-u", "nobody"]
    log = (directory / "pgbouncer.log").open("wb")  # its log on stderr, written through our own descriptor
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port, 0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                text = (directory / "pgbouncer.log").read_text(encoding="utf-8", errors="replace")
                pytest.fail(f"pgbouncer did not start: {text.strip()[-500:]}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
