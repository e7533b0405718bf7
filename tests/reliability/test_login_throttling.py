"""Login throttling (django-axes) in a real Daphne with AXES on, as in production."""

import re

import pytest
import requests

from tests.factories import OperatorFactory
from tests.processes import DaphneServer


@pytest.fixture
def axes_daphne(transactional_db):
    """Throttling on, one proxy in front (it appends the client address to X-Forwarded-For)."""
    server = DaphneServer(AXES_ENABLED="true", AXES_FAILURE_LIMIT="5", TRUSTED_PROXY_COUNT="1").start()
    yield server
    server.stop()


def attempt_login(server: DaphneServer, username: str, password: str, client_ip: str) -> requests.Response:
    session = requests.Session()
    forwarded = {"X-Forwarded-For": client_ip}
    page = session.get(f"{server.url}/accounts/login/", headers=forwarded, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{server.url}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers=forwarded,
        allow_redirects=False,
        timeout=10,
    )


def test_five_wrong_passwords_lock_the_username_from_that_address_even_with_the_right_one(axes_daphne):
    operator = OperatorFactory()
    username = operator.user.username
    for _ in range(4):
        assert attempt_login(axes_daphne, username, "wrong", "203.0.113.7").status_code == 200
    assert attempt_login(axes_daphne, username, "wrong", "203.0.113.7").status_code == 429
    locked = attempt_login(axes_daphne, username, "password", "203.0.113.7")
    assert locked.status_code == 429
    assert "sessionid" not in locked.cookies


def test_lockout_keys_on_the_forwarded_client_so_others_behind_the_balancer_still_sign_in(axes_daphne):
    operator = OperatorFactory()
    username = operator.user.username
    for _ in range(5):
        attempt_login(axes_daphne, username, "wrong", "203.0.113.7")
    assert attempt_login(axes_daphne, username, "password", "203.0.113.7").status_code == 429
    # The real operator at another address signs in; a forged left-most entry changes nothing.
    assert attempt_login(axes_daphne, username, "password", "198.51.100.20").status_code == 302
    forged = attempt_login(axes_daphne, username, "password", "198.51.100.99, 203.0.113.7")
    assert forged.status_code == 429


def test_a_successful_login_before_the_limit_works(axes_daphne):
    operator = OperatorFactory()
    for _ in range(3):
        attempt_login(axes_daphne, operator.user.username, "wrong", "192.0.2.1")
    response = attempt_login(axes_daphne, operator.user.username, "password", "192.0.2.1")
    assert response.status_code == 302
    assert "sessionid" in response.cookies
