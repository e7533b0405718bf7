"""Several processes: two Daphne and two Celery workers sharing PostgreSQL and one Redis."""

import pytest

from tests.helpdesk.test_health import fetch_health

pytestmark = [pytest.mark.worker]


def test_both_web_processes_are_healthy_with_shared_redis_and_workers(cluster):
    """Each Daphne reaches the database, the shared channel layer and a worker through the broker."""
    for daphne in cluster.daphnes:
        status, body = fetch_health(daphne.url)
        assert status == 200, (body, cluster.logs())
        assert all(value == "OK" for value in body.values()), body
