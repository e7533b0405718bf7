"""TELEPHONY_SIMULATOR (finding R4): the caller simulator and its API answer 404 when it is off.

It is on by default locally (and in `make run`'s demo) and off by default with PRODUCTION=true;
the defaults are read from the environment at start-up, so they are checked in real processes.
"""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.test import override_settings

from helpdesk.models import Engagement
from telephony import services
from telephony.checks import simulator_is_off
from telephony.models import Call, Leg
from telephony.views import make_caller_token
from tests.processes import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def simulator_requests(centre):
    """(method, url, body) for every simulator URL, aimed at a live call and a ringing outside leg."""
    call = centre.answered_call()
    outside = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    token = make_caller_token(call)
    return (
        call,
        outside,
        [
            ("get", "/phone/simulator/", None),
            ("post", "/phone/simulator/api/calls/", {"queue_id": centre.sales.pk, "name": "Mallory"}),
            ("get", f"/phone/simulator/api/calls/{token}/", None),
            ("get", "/phone/simulator/api/outside/?number=%2B12025550123", None),
            ("post", f"/phone/simulator/api/outside/legs/{outside.pk}/answer/", None),
            ("post", f"/phone/simulator/api/outside/legs/{outside.pk}/hang-up/", None),
            ("post", f"/phone/simulator/api/calls/{token}/hang-up/", None),
        ],
    )


def send(client, method, url, body):
    return post(client, url, body) if method == "post" else client.get(url)


@override_settings(TELEPHONY_SIMULATOR=False)
def test_switched_off_every_simulator_url_answers_404_and_changes_nothing(client, centre):
    call, outside, requests = simulator_requests(centre)
    engagements, legs = Engagement.objects.count(), list(Leg.objects.values_list("pk", "state").order_by("pk"))
    for method, url, body in requests:
        assert send(client, method, url, body).status_code == 404, url
        # The wrong method is not a hint that the URL exists either.
        assert send(client, "get" if method == "post" else "post", url, body).status_code == 404, url
    assert Engagement.objects.count() == engagements
    assert list(Leg.objects.values_list("pk", "state").order_by("pk")) == legs
    assert Call.objects.get(pk=call.pk).engagement.state == Engagement.State.ACTIVE
    # Operators' phone is not the simulator: it keeps working.
    client.force_login(centre.a.user)
    assert client.get("/phone/").status_code == 200
    assert client.get("/phone/api/current/").status_code == 200


@override_settings(TELEPHONY_SIMULATOR=True)
def test_switched_on_the_same_urls_work(client, centre):
    call, outside, requests = simulator_requests(centre)
    expected = [200, 201, 200, 200, 200, 200, 200]
    assert [send(client, method, url, body).status_code for method, url, body in requests] == expected
    assert Engagement.objects.filter(visitor__name="Mallory").exists()
    assert Call.objects.get(pk=call.pk).engagement.state == Engagement.State.ENDED  # the caller hung up
    outside.refresh_from_db()
    assert outside.state == Leg.State.ENDED


def test_deploy_check_warns_while_the_simulator_is_on(settings):
    settings.TELEPHONY_SIMULATOR = True
    assert [w.id for w in simulator_is_off()] == ["telephony.W001"]
    settings.TELEPHONY_SIMULATOR = False
    assert simulator_is_off() == []


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dropped = ("SECRET_KEY", "DEBUG", "SECURE", "PRODUCTION", "TELEPHONY_SIMULATOR", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "helpdesk.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "PRODUCTION": "true",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "helpdesk.example.com",
    "SECRET_KEY": secrets.token_urlsafe(50),
}
PRINT_SETTING = ("shell", "-c", "from django.conf import settings; print('simulator', settings.TELEPHONY_SIMULATOR)")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "true"}, "simulator True"),  # scripts/run.sh (`make run`): DEBUG on, no PRODUCTION
        ({}, "simulator True"),  # local default
        (PRODUCTION_ENV, "simulator False"),
        ({**PRODUCTION_ENV, "TELEPHONY_SIMULATOR": "true"}, "simulator True"),  # an explicit choice
        ({"DEBUG": "true", "TELEPHONY_SIMULATOR": "false"}, "simulator False"),
    ],
)
def test_default_follows_production(env, expected):
    result = manage(*PRINT_SETTING, **env)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout.splitlines()


def test_production_deploy_check_fails_if_the_simulator_is_switched_on():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV, TELEPHONY_SIMULATOR="true")
    assert result.returncode != 0
    assert "telephony.W001" in result.stdout + result.stderr
