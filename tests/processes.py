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
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

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
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
