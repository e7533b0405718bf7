"""A database connection lost for a moment: the request fails cleanly, the next one works.

The loss is real: PostgreSQL terminates the web process's backend (pg_terminate_backend),
only ever on this test's own database.
"""

import re
import threading

import psycopg
import pytest
import requests
from django.db import connection

from helpdesk.models import Availability, Media
from tests import processes
from tests.factories import ManagerFactory, OperatorFactory
from tests.processes import DaphneServer, wait_until


def signed_in(server: DaphneServer, user) -> tuple[requests.Session, str]:
    """A browser-like session of `user` and its CSRF token."""
    session = requests.Session()
    page = session.get(f"{server.url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{server.url}/accounts/login/",
        data={"username": user.username, "password": "password", "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[response.text.find("<main") :][:1500]
    return session, session.cookies["csrftoken"]


def other_backends() -> list[int]:
    """Backends on this test database other than the test's own connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def backends_waiting_for_a_lock(holder_pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND %s = ANY(pg_blocking_pids(pid))",
            [holder_pid],
        )
        return [row[0] for row in cursor.fetchall()]


def assert_clean_error_page(response: requests.Response) -> None:
    assert 500 <= response.status_code < 600, response.status_code
    for leak in ("Traceback", "psycopg", "OperationalError", "SELECT", "terminat"):
        assert leak not in response.text, f"error page shows internals ({leak}): {response.text[:500]}"


WEB_PROCESS_DATABASE = {
    "pooled": {},  # the default: the web process's connections come from its pool
    "connection-per-request": {"DATABASE_POOL_SIZE": "0", "CONN_MAX_AGE": "0"},
}


@pytest.fixture(params=list(WEB_PROCESS_DATABASE), ids=list(WEB_PROCESS_DATABASE))
def web_process(transactional_db, request):
    """Daphne with its pool of connections (the default) or, with the pool off, one per request."""
    server = DaphneServer(**WEB_PROCESS_DATABASE[request.param]).start()
    yield server
    server.stop()


def test_connection_killed_in_the_middle_of_a_request_fails_it_cleanly_and_the_next_works(web_process):
    """Logout blocks on the operator's availability row; its backend is killed while it waits."""
    server = web_process
    operator = OperatorFactory(available=[Media.CHAT])
    session, csrf = signed_in(server, operator.user)

    outcome = {}
    with psycopg.connect(processes.test_database_url(), autocommit=False) as holder:
        holder.execute("SELECT id FROM helpdesk_availability WHERE operator_id = %s FOR UPDATE", [operator.pk])
        holder_pid = holder.info.backend_pid

        def log_out():
            outcome["response"] = session.post(
                f"{server.url}/accounts/logout/", headers={"X-CSRFToken": csrf}, allow_redirects=False, timeout=30
            )

        thread = threading.Thread(target=log_out)
        thread.start()
        waiting = wait_until(lambda: backends_waiting_for_a_lock(holder_pid), message="logout waiting on the lock")
        terminate(waiting)
        thread.join(30)
        holder.rollback()

    assert_clean_error_page(outcome["response"])
    assert Availability.objects.get(operator=operator, media=Media.CHAT).status == Availability.Status.AVAILABLE

    again = session.post(
        f"{server.url}/accounts/logout/", headers={"X-CSRFToken": csrf}, allow_redirects=False, timeout=30
    )
    assert again.status_code == 302, again.text[:300]
    assert Availability.objects.get(operator=operator, media=Media.CHAT).status == Availability.Status.OFFLINE


@pytest.mark.parametrize("web_process", ["pooled"], indirect=True)
def test_requests_one_after_another_reuse_the_pools_connections(web_process):
    """Each request runs in a thread of its own: without the pool each one connected afresh."""
    server = web_process
    manager = ManagerFactory()
    session, _ = signed_in(server, manager)
    first = set(other_backends())
    assert first, "the pool should keep its connections open between requests"
    for _ in range(10):
        assert session.get(f"{server.url}/", allow_redirects=False, timeout=10).status_code == 302
    assert set(other_backends()) == first, "a request opened a connection of its own"


@pytest.mark.parametrize("web_process", ["pooled"], indirect=True)
def test_idle_pooled_connections_killed_between_requests_are_replaced_transparently(web_process):
    server = web_process
    manager = ManagerFactory()  # lands on the admin: a page that reads the session and user rows
    session, _ = signed_in(server, manager)
    assert session.get(f"{server.url}/", allow_redirects=False, timeout=10).status_code == 302
    kept = other_backends()
    assert kept, "the web process should keep its connections open between requests"
    terminate(kept)
    wait_until(lambda: not set(kept) & set(other_backends()), message="backends gone")

    response = session.get(f"{server.url}/", allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:300]
    assert "/accounts/login/" not in response.headers["Location"], "the session must survive the lost connection"
