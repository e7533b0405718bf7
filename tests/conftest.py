import pytest
from django.conf import settings
from django.core.cache import cache

from tests.processes import CeleryBeat, CeleryWorker, DaphneServer


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and other cached state live in Redis: start every test clean.

    Only this run's keys go: `cache.clear()` would FLUSHDB, taking the Celery broker's
    queues (same Redis database) and any other run's keys with it.
    """
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    if keys:
        client.delete(*keys)
    yield


@pytest.fixture
def daphne_server(transactional_db):
    """A real Daphne serving the ASGI app on a free port, against the test database."""
    server = DaphneServer().start()
    yield server
    server.stop()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker (solo pool) on the Redis broker; tests may stop or kill it."""
    worker = CeleryWorker().start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_beat_process(transactional_db):
    beat = CeleryBeat().start()
    yield beat
    beat.stop()
