"""Fixtures for fault tests: a private Redis that may be restarted, a two-process cluster."""

from types import SimpleNamespace

import pytest

from helpdesk.models import Media
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.processes import Cluster, RedisServer, use_redis


@pytest.fixture(autouse=True)
def _close_async_chat_connections():
    """Socket tests post chat lines over pooled async connections: close them with the test
    (else the test database cannot be dropped at the end of the run)."""
    yield
    from helpdesk import async_db

    async_db.close_all()


@pytest.fixture
def private_redis():
    """A redis-server of this test only, on a free port: safe to kill and restart."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def cluster(transactional_db, private_redis):
    """Two Daphne processes and two Celery workers on the test database and the private Redis.

    This test process publishes and enqueues through the same Redis while the fixture lives.
    """
    processes = Cluster(private_redis).start()
    with use_redis(private_redis.url):
        yield processes
    processes.stop()


@pytest.fixture
def web_pair(transactional_db, private_redis):
    """Two Daphne processes on the private Redis, no workers: enough for chat, quicker to start."""
    processes = Cluster(private_redis, workers=0).start()
    with use_redis(private_redis.url):
        yield processes
    processes.stop()


@pytest.fixture
def desk(transactional_db):
    """One site with a default chat queue served by one available operator."""
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    operator = OperatorFactory(site=site, teams=[team], available=[Media.CHAT])
    return SimpleNamespace(site=site, team=team, queue=queue, operator=operator)
