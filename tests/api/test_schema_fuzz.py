"""The API fuzzed from its own OpenAPI schema by Schemathesis against a real Daphne: no 5xx answer."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import OperatorFactory
from tests.processes import child_env
from tests.reporting.conftest import DAY1, at, make_engagement

MAX_SECONDS = 30


@pytest.fixture
def fuzz_user(world):
    """An operator of the site who also manages it, owning a live chat: reads and writes both go deep."""
    operator = OperatorFactory(site=world.site, display_name="Fuzz", available=["chat"], teams=[world.t1])
    world.site.managers.add(operator.user)
    operator.user.is_staff = True
    operator.user.save()
    make_engagement(world.q1, at(DAY1, 16), answered=5, owners=[(operator, 5, None, "routed", "")])
    return operator.user


def test_api_schema_fuzz_finds_no_server_error(world, fuzz_user, daphne_server, tmp_path):
    token = Token.objects.create(user=fuzz_user).key
    started = time.monotonic()
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{daphne_server.url}/api/schema/",
            "--url",
            f"{daphne_server.url}",
            "--header",
            f"Authorization: Token {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "12",
            "--max-time",
            str(MAX_SECONDS),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20260302",
            "--workers",
            "2",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        env=child_env(),
        cwd=tmp_path,  # its example database (.schemathesis/) stays out of the work tree
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 60,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output}\n--- daphne ---\n{daphne_server.output()[-4000:]}"
    assert "not_a_server_error" in output or "passed" in output.lower()
    print(f"schemathesis ran in {elapsed:.1f}s\n{output[-1500:]}")
