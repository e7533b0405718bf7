"""What a newcomer and an operator of the product rely on: demo data, deploy checks, migrations."""

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from helpdesk.models import Availability, AvailabilityLog, Engagement, Operator, Queue, Site, Team
from tests.processes import ROOT

pytestmark = pytest.mark.django_db


User = get_user_model()

# Every table the seed writes: its rows, and the many-to-many memberships (team members, queues'
# serving teams, site managers, the Managers group).
SEEDED = (
    Site, Team, Operator, Queue, Engagement, User, Group, Availability, AvailabilityLog,
    Operator.teams.through, Queue.teams.through, Site.managers.through, User.groups.through,
)  # fmt: skip


def counts():
    return {model._meta.label: model.objects.count() for model in SEEDED}


def test_demo_seed_is_idempotent(capsys):
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    assert first["helpdesk.Site"] == 2 and first["helpdesk.Operator"] >= 4
    assert first["helpdesk.Availability"] == 3 * first["helpdesk.Operator"]
    # The seed fills these (so the comparison above is not between empty tables).
    assert all(first[label] for label in first if label not in {"helpdesk.Engagement", "helpdesk.AvailabilityLog"})
    assert Site.objects.get(name="London").managers.filter(username="manager.london").exists()


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk.settings", "DJANGO_ALLOW_ASYNC_UNSAFE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        PRODUCTION="true",
        DEBUG="false",
        SECRET_KEY="x" * 20 + "a-production-secret-of-decent-length-0123456789",
        ALLOWED_HOSTS="helpdesk.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_migrations_match_the_models():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_announce_ready_stays_up_when_the_product_is_not_healthy_in_time():
    """honcho stops every process as soon as one exits: the announcer must not exit on a timeout."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "announce_ready", "--url", f"http://127.0.0.1:{port}", "--timeout", "1"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk.settings", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "nothing said within 60 s"
        assert "Not healthy after 1s" in process.stderr.readline()
        time.sleep(1)
        assert process.poll() is None, "the announcer exited: honcho would stop everything"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
