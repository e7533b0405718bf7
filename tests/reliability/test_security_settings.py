"""Security settings as production runs them: deploy check, HTTPS-only cookies, HSTS, CSP.

The settings are read from the environment at start-up, so these tests start real
processes (manage.py, Daphne) with a production-like environment instead of overriding
settings inside the test process.
"""

import os
import re
import secrets
import subprocess
import sys

import pytest
import requests

from tests.factories import OperatorFactory
from tests.processes import ROOT, DaphneServer

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    "PRODUCTION": "true",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "helpdesk.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests' harness setting (tests/browser/conftest.py), never production's.
    dropped = ("SECRET_KEY", "DEBUG", "SECURE", "PRODUCTION", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_has_no_warning_with_production_environment():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV, SECRET_KEY=secrets.token_urlsafe(50)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_with_the_public_default_secret_key():
    result = manage("check", **PRODUCTION_ENV)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = manage("check", **{**PRODUCTION_ENV, "DEBUG": "true"}, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


@pytest.fixture
def secure_daphne(transactional_db):
    """Daphne behind an (imagined) TLS proxy: SECURE on, as in production."""
    server = DaphneServer(SECURE="true", DEBUG="false").start()
    yield server
    server.stop()


def https(server: DaphneServer) -> dict:
    """Headers the TLS-terminating proxy adds."""
    return {"X-Forwarded-Proto": "https", "Origin": f"https://127.0.0.1:{server.port}"}


def test_plain_http_is_redirected_to_https(secure_daphne):
    response = requests.get(f"{secure_daphne.url}/accounts/login/", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://127.0.0.1:{secure_daphne.port}/accounts/login/"


def test_https_pages_send_hsts_csp_and_hardening_headers(secure_daphne):
    response = requests.get(f"{secure_daphne.url}/accounts/login/", headers=https(secure_daphne), timeout=10)
    assert response.status_code == 200
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def cookie_attributes(response: requests.Response, name: str) -> str:
    """The raw Set-Cookie line of one cookie (requests folds several into one header)."""
    raw = response.raw.headers.getlist("Set-Cookie")
    lines = [line for line in raw if line.startswith(f"{name}=")]
    assert lines, f"no {name} cookie in {raw}"
    return lines[0]


def test_session_and_csrf_cookies_are_https_only_and_same_site(secure_daphne):
    operator = OperatorFactory()
    session = requests.Session()
    page = session.get(f"{secure_daphne.url}/accounts/login/", headers=https(secure_daphne), timeout=10)
    csrf_cookie = cookie_attributes(page, "csrftoken")
    assert re.search(r";\s*Secure", csrf_cookie), csrf_cookie
    assert "SameSite=Lax" in csrf_cookie
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    login = session.post(
        f"{secure_daphne.url}/accounts/login/",
        data={"username": operator.user.username, "password": "password", "csrfmiddlewaretoken": token},
        headers={**https(secure_daphne), "Referer": f"https://127.0.0.1:{secure_daphne.port}/accounts/login/"},
        cookies={"csrftoken": page.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 302, login.text[:500]
    session_cookie = cookie_attributes(login, "sessionid")
    assert re.search(r";\s*Secure", session_cookie), session_cookie
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
