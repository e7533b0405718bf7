"""Shared set-up of the transfer benchmarks: settings, database, population, child processes, figures."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(default_db: str = "helpdesk_transfer_bench") -> None:
    """tests.settings gives this run its own channel-layer prefix, cache prefix and Celery queue,
    inherited by the Daphne, worker and beat processes started from here."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_db}")
    os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"trbench{os.getpid()}")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("AXES_ENABLED", "false")
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def make_company(*, stamp: str, accept_timeout: int = 30, initiator_capacity: int = 200):
    """A site of its own with a chat queue, an initiator (Alice) and a target (Bob), both available."""
    from django.contrib.auth import get_user_model

    from helpdesk.models import Availability, Media, Operator, Queue, Site, Team
    from helpdesk.services.presence import ensure_availabilities

    site = Site.objects.create(name=f"Transfer bench {stamp}")
    team = Team.objects.create(site=site, name="Bench team")
    queue = Queue.objects.create(site=site, name="Bench chat", media=Media.CHAT, accept_timeout_seconds=accept_timeout)
    queue.teams.set([team])
    User = get_user_model()
    people = {}
    for key, name, capacity in (("alice", "Alice Bench", initiator_capacity), ("bob", "Bob Bench", 5)):
        user = User.objects.create(username=f"{key}-{stamp}", email=f"{key}-{stamp}@example.com")
        operator = Operator.objects.create(user=user, site=site, display_name=name)
        operator.teams.set([team])
        ensure_availabilities(operator=operator)
        Availability.objects.filter(operator=operator, media=Media.CHAT).update(
            capacity=capacity, status=Availability.Status.AVAILABLE
        )
        people[key] = operator
    return queue, people["alice"], people["bob"]


def engagement_owned_by(*, owner, queue, visitor_name: str, messages: int = 0):
    """An active chat `owner` holds, with `messages` lines of history (alternating visitor and operator)."""
    from django.db import transaction
    from django.utils import timezone

    from helpdesk.lock_objects import lock_availability
    from helpdesk.models import Engagement, Message, Ownership, Visitor
    from helpdesk.services.routing import take_ownership

    with transaction.atomic():
        visitor = Visitor.objects.create(name=visitor_name)
        engagement = Engagement.objects.create(
            site_id=queue.site_id, queue=queue, visitor=visitor, media=queue.media, queued_at=timezone.now()
        )
        take_ownership(
            engagement=engagement,
            availability=lock_availability(operator_id=owner.pk, media=queue.media),
            because=Ownership.Start.ROUTED,
        )
        Message.objects.bulk_create(
            Message(
                engagement=engagement,
                seq=seq,
                sender="visitor" if seq % 2 else "operator",
                operator=None if seq % 2 else owner,
                body=f"History line {seq}: " + "lorem ipsum dolor sit amet " * 3,
            )
            for seq in range(1, messages + 1)
        )
        Engagement.objects.filter(pk=engagement.pk).update(last_seq=messages)
    return engagement


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """A child process (Daphne, worker, beat) with its output in a log file."""

    def __init__(self, name: str, command: list[str], ready: str | None = None, port: int | None = None):
        self.name = name
        self.command = command
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{name} exited:\n{self.output()}")
            if ready and ready in self.output():
                return
            if port:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        return
                except OSError:
                    pass
            if not ready and not port:
                return
            time.sleep(0.1)
        raise SystemExit(f"{name} not ready:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


def load_note() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "load unknown"


BENCH_ENV = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_transfer_bench REDIS_URL=redis://127.0.0.1:6379/4"


def time_alternating(variants: dict, *, rounds: int, warmup: int = 3) -> tuple[dict, dict]:
    """Time in-process variants of the same work, alternating their order round by round.

    `variants` maps a name to (prepare, {label: run}): each round, each variant's `prepare()` runs,
    then its runs, each timed. Returns the times in ms by variant and label (the `warmup` rounds
    left out) and each run's last result, for the caller to check the variants agree.
    """
    times = {name: {label: [] for label in runs} for name, (_, runs) in variants.items()}
    results: dict = {name: {} for name in variants}
    for round_number in range(rounds + warmup):
        order = list(variants.items())
        for name, (prepare, runs) in order if round_number % 2 else reversed(order):
            prepare()
            for label, run in runs.items():
                started = time.perf_counter()
                results[name][label] = run()
                if round_number >= warmup:
                    times[name][label].append((time.perf_counter() - started) * 1000)
    return times, results


def print_figures(figures: dict, *, script_args: str, json_path: str | None) -> None:
    """Print the figures with the machine's load and the command that reproduces them."""
    figures["machine"] = load_note()
    figures["rerun"] = f"{BENCH_ENV} .venv/bin/python {script_args}"
    print(json.dumps(figures, indent=2))
    write_json(json_path, figures)


def write_json(path: str | None, figures: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=2))
