"""Hosts of their own for multi-host tests: Linux network namespaces joined by a bridge.

Each `Host` is a network namespace with one address on a private /24 (10.213.N.0/24, made by
the test and gone with it): its processes have their own loopback and ports and reach the
others only over the bridge, like machines on one LAN. The bridge's address (the gateway) is
this test process, in the root namespace: it serves Redis and forwards PostgreSQL there. No
namespace has a default route, so nothing leaves the box.

Needs root (CAP_NET_ADMIN) and iproute2's `ip netns`; `unusable_reason()` says why not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.processes import CeleryWorker, Process, RedisServer, child_env

SUBNET_PREFIX = "10.213"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def unusable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN); run as root, as CI does"
    probe = f"hdprobe{os.getpid()}"
    try:
        ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as error:
        return f"`ip netns add` failed: {getattr(error, 'stderr', '') or error}"
    ip("netns", "del", probe)
    return None


def free_subnet() -> int:
    """A third octet no interface of this box uses in 10.213.0.0/16 (several runs may share the box)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    start = 20 + os.getpid() % 200
    for offset in range(235):
        octet = 20 + (start - 20 + offset) % 235
        if f" {SUBNET_PREFIX}.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.213.N.0/24 subnet")


class Host:
    """One network namespace with one address: `wrap` runs a command inside it."""

    def __init__(self, namespace: str, address: str):
        self.namespace = namespace
        self.address = address

    def wrap(self, args: list[str]) -> list[str]:
        # `ip netns exec` execs the command (same pid), so signals reach it directly.
        return ["ip", "netns", "exec", self.namespace, *args]


class Network:
    """A bridge in the root namespace and any number of hosts on it; `destroy` removes it all."""

    def __init__(self):
        self.tag = f"hd{os.getpid() % 100000}"
        self.octet = free_subnet()
        self.bridge = f"{self.tag}br"
        self.gateway = f"{SUBNET_PREFIX}.{self.octet}.1"
        self.hosts: list[Host] = []

    def create(self) -> Network:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        namespace = f"{self.tag}{name}"
        address = f"{SUBNET_PREFIX}.{self.octet}.{len(self.hosts) + 2}"
        outside, inside = f"{namespace}o", f"{namespace}i"  # interface names stay under 15 characters
        ip("netns", "add", namespace)
        host = Host(namespace, address)
        self.hosts.append(host)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)
        ip("link", "set", outside, "master", self.bridge)
        ip("link", "set", outside, "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        return host

    def destroy(self) -> None:
        """Remove every namespace (their veth ends and peers go with them) and the bridge."""
        for host in self.hosts:
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", host.namespace)
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", self.bridge)


def wait_listening(address: str, port: int, process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(f"{process.name} exited:\n{process.output()}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on {address}:{port} within {timeout}s:\n{process.output()}")


class NodeDaphne(Process):
    """Daphne inside a host's namespace, on that host's address (port 8000 on every host)."""

    def __init__(self, host: Host, port: int = 8000, *, bind: str | None = None, **env: str):
        self.host = host
        self.port = port
        bind = bind or host.address  # "0.0.0.0" as in a container: the host's address and its own loopback
        args = [sys.executable, "-m", "daphne", "-b", bind, "-p", str(port), "helpdesk.asgi:application"]
        super().__init__(f"daphne-{host.namespace}", host.wrap(args), child_env(**env))

    @property
    def url(self) -> str:
        return f"http://{self.host.address}:{self.port}"

    def wait_ready(self, timeout: float = 45) -> NodeDaphne:
        wait_listening(self.host.address, self.port, self, timeout)
        return self


class NodeHAProxy(Process):
    """HAProxy in the foreground inside a host's namespace, on a configuration file of the test's."""

    def __init__(self, host: Host, config: Path):
        self.host = host
        args = host.wrap(["haproxy", "-db", "-f", str(config)])
        super().__init__(f"haproxy-{host.namespace}", args, dict(os.environ))

    def wait_ready(self, port: int = 443, timeout: float = 15) -> NodeHAProxy:
        wait_listening(self.host.address, port, self, timeout)
        return self


class NodeRedis(Process):
    """redis-server inside a host's namespace on port `port` of every address it has; `sentinel_config`
    makes it a Sentinel on that (writable) configuration file instead."""

    def __init__(
        self, host: Host, port: int = 6379, *, replica_of: str | None = None, sentinel_config: Path | None = None
    ):
        self.host = host
        self.port = port
        if sentinel_config is not None:
            args = ["redis-server", str(sentinel_config), "--sentinel", "--port", str(port)]
        else:
            args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--protected-mode", "no"]
            args += ["--dir", tempfile.mkdtemp(prefix="redis-")]
            if replica_of:
                args += ["--replicaof", replica_of, "6379"]
        super().__init__(f"redis-{host.namespace}-{port}", host.wrap(args), dict(os.environ))

    @property
    def url(self) -> str:
        return f"redis://{self.host.address}:{self.port}/0"

    def wait_ready(self, timeout: float = 15) -> NodeRedis:
        wait_listening(self.host.address, self.port, self, timeout)
        return self


class NodeWorker(CeleryWorker):
    """A Celery worker (solo pool) inside a host's namespace."""

    def __init__(self, host: Host, **env: str):
        super().__init__(name=f"worker-{host.namespace}", **env)
        self.args = host.wrap(self.args)

    def wait_ready(self, timeout: float = 45) -> NodeWorker:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"Celery worker exited:\n{self.output()}")
            if "ready." in self.output():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"Celery worker not ready within {timeout}s:\n{self.output()}")


class GatewayRedis(RedisServer):
    """A private redis-server in the root namespace, listening on the bridge (and on loopback,
    where its readiness check looks)."""

    def __init__(self, gateway: str):
        super().__init__()
        self.gateway = gateway
        self.args.insert(self.args.index("--bind") + 2, gateway)
        # No password on a bridge only this box has (protected mode would refuse the hosts).
        self.args += ["--protected-mode", "no"]

    @property
    def url(self) -> str:
        return f"redis://{self.gateway}:{self.port}/0"


class TcpForwarder:
    """Forward a port of the bridge's address to a local one, in a thread of this process.

    The box's PostgreSQL listens on 127.0.0.1 only; the hosts reach it over the bridge through
    this, as they would reach a database server on the LAN.
    """

    def __init__(self, listen_host: str, target_host: str, target_port: int):
        self.listen_host = listen_host
        self.target = (target_host, target_port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-forwarder", daemon=True)
        self.server: asyncio.base_events.Server | None = None

    def start(self) -> TcpForwarder:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connect, self.listen_host, 0), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _connect(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _shut_down(self) -> None:
        self.server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.1)  # let the cancelled pipes close their sockets

    def stop(self) -> None:
        """Close the listener and every forwarded connection (PostgreSQL sees them end)."""
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self._shut_down(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
