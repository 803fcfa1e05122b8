"""moto's server in a process of its own, as SQS and DynamoDB are not in the functions' processes. It stops
when the process that started it is gone, so a killed `recount local` leaves no server behind."""

from __future__ import annotations

import subprocess
import sys

from recount.local.environment import Guard
from recount.servers.throwaway import free_port, wait_for


class MotoServer:
    """The parent's handle on the server: start it, its endpoint, stop it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recount.local.aws_server", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # werkzeug logs every request there
            start_new_session=True,  # Ctrl-C is the parent's: it drains what is in flight, then stops this
        )
        wait_for(self.port, "moto's server", timeout_s=60.0)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def main() -> None:
    """`python -m recount.local.aws_server PORT`"""
    Guard().start()
    from moto.server import main as serve

    serve(["-H", "127.0.0.1", "-p", sys.argv[1]])


if __name__ == "__main__":
    main()
