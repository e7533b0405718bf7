"""Real server processes for tests: Daphne, a Celery worker, Celery beat.

They run with the same settings module as the tests and point at the test database,
so what a test writes (in a transactional test) they see, and the other way round.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=test_database_url(),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child process with its output in a log file, stopped (or killed) on demand."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name = name
        self.args = args
        self.env = env
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115 (lives as long as the process)
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        self.popen = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if not self.running:
            return
        os.killpg(self.popen.pid, sig)
        if sig != signal.SIGKILL:
            os.killpg(self.popen.pid, signal.SIGCONT)  # a paused one (SIGSTOP, `pause`) must run to stop
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
            # A test's own process that ignores a stop is a finding (and costs the suite the timeout):
            # say which one, with what it printed last, in the run's warnings summary.
            tail = "\n".join(self.output().splitlines()[-15:])
            warnings.warn(
                f"{self.name} did not exit within {timeout:g}s of signal {sig}; killed. Its last output:\n{tail}",
                stacklevel=2,
            )

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish or acknowledge anything."""
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


class DaphneServer(Process):
    def __init__(self, port: int | None = None, **env: str):
        self.port = port or free_port()
        super().__init__(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "helpdesk.asgi:application"],
            child_env(**env),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> DaphneServer:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"Daphne exited:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Daphne did not listen within {timeout}s:\n{self.output()}")


class CeleryWorker(Process):
    def __init__(self, name: str = "worker", **env: str):
        super().__init__(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "helpdesk",
                "worker",
                "-P",
                "solo",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}-{os.getpid()}@%h",
                "-l",
                "INFO",
            ],
            child_env(**env),
        )

    def start(self, timeout: float = 30) -> CeleryWorker:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"Celery worker exited:\n{self.output()}")
            if "ready." in self.output():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"Celery worker not ready within {timeout}s:\n{self.output()}")


class CeleryBeat(Process):
    def __init__(self, **env: str):
        schedule = tempfile.mktemp(prefix="beat-schedule-")
        super().__init__(
            "beat",
            [sys.executable, "-m", "celery", "-A", "helpdesk", "beat", "-s", schedule, "-l", "INFO"],
            child_env(**env),
        )


def wait_until(predicate, timeout: float = 10, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message() if callable(message) else message}")


class RedisServer(Process):
    """A private redis-server on a free port, for tests that stop or restart Redis.

    The shared Redis on 6379 must never be stopped: fault tests point their own Daphne,
    worker and channel layer at one of these instead (`url`, `use_redis`).
    """

    def __init__(self, port: int | None = None, *, appendonly: bool = False):
        self.port = port or free_port()
        super().__init__(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--dir",
                tempfile.mkdtemp(prefix="redis-"),
                "--maxclients",
                "10000",
            ],
            dict(os.environ),
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"redis-server exited:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {timeout}s:\n{self.output()}")

    def pause(self) -> None:
        """SIGSTOP: Redis stops answering without refusing anything (a hung server or a network
        partition): connections open and commands are sent, but no reply ever comes."""
        os.kill(self.popen.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.popen.pid, signal.SIGCONT)

    def restart(self, down_for: float = 0.0) -> RedisServer:
        """Stop (SIGKILL: no graceful save), stay down `down_for` seconds, start on the same port."""
        self.kill()
        time.sleep(down_for)
        return self.start()


class use_redis:  # noqa: N801 (used like a function: `with use_redis(url):`)
    """Point this test process's channel layer, cache and Celery producer at another Redis."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        from django.conf import settings
        from django.test import override_settings

        layers = {"default": {**settings.CHANNEL_LAYERS["default"]}}
        layers["default"]["CONFIG"] = {**layers["default"]["CONFIG"], "hosts": [self.url]}
        caches = {"default": {**settings.CACHES["default"], "LOCATION": self.url}}
        self.override = override_settings(CHANNEL_LAYERS=layers, CACHES=caches, CELERY_BROKER_URL=self.url)
        self.override.enable()
        self._set_celery_broker(self.url)
        return self

    def __exit__(self, *exc):
        from django.conf import settings

        self.override.disable()
        self._set_celery_broker(settings.CELERY_BROKER_URL)

    @staticmethod
    def _set_celery_broker(url: str) -> None:
        from helpdesk.celery import app

        app.conf.broker_url = url
        app.conf.broker_write_url = None
        app.conf.broker_read_url = None
        app._pool = None
        amqp = app.__dict__.get("amqp")  # a cached property: reset only if it was built
        if amqp is not None:
            amqp._producer_pool = None


class Cluster:
    """Two Daphne processes and two Celery workers sharing the test database and one Redis.

    Like production on several machines: a visitor may talk to one web process and the
    operator to the other; the channel layer and the broker (one Redis) join them up.
    """

    def __init__(self, redis: RedisServer, *, daphnes: int = 2, workers: int = 2, beat: bool = False, **env: str):
        self.redis = redis
        self.env = {"REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url, **env}
        self.daphnes = [DaphneServer(**self.env) for _ in range(daphnes)]
        self.workers = [CeleryWorker(name=f"worker{i}", **self.env) for i in range(workers)]
        self.beat = CeleryBeat(**self.env) if beat else None

    @property
    def processes(self) -> list[Process]:
        return [*self.daphnes, *self.workers, *([self.beat] if self.beat else [])]

    def start(self) -> Cluster:
        for process in self.processes:
            process.start()
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} ({p.args[-1]})\n{p.output()[-4000:]}" for p in self.processes)
