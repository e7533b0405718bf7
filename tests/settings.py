"""Test settings: PostgreSQL and the real local Redis, isolated per test run.

Each run gets its own channel-layer prefix (Redis pub/sub is not split by database number),
inherited by the Daphne and Celery processes the tests start.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")
# Under pytest-xdist every worker is a run of its own (pytest-django gives it its own test
# database): the prefixes the controller set, which its workers inherit through the
# environment, must not be shared, so each worker makes its own, once. Its Daphne and
# Celery children inherit the worker's.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("HELPDESK_TEST_WORKER") != _worker:
    os.environ["HELPDESK_TEST_WORKER"] = _worker
    os.environ["CHANNEL_LAYER_PREFIX"] = os.environ["CACHE_PREFIX"] = f"hdtest{os.getpid()}"
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"hdtest{os.getpid()}")
os.environ.setdefault("CACHE_PREFIX", os.environ["CHANNEL_LAYER_PREFIX"])
os.environ.setdefault("AXES_ENABLED", "false")

from helpdesk.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get(
    "CELERY_BEAT_SCHEDULE_FILENAME", f"/tmp/{os.environ['CHANNEL_LAYER_PREFIX']}-beat-schedule"
)
# Tasks of this run go to a queue of its own, so a worker of another run never takes them.
CELERY_TASK_DEFAULT_QUEUE = os.environ["CHANNEL_LAYER_PREFIX"]

# The product's PostgreSQL backend with a flush that deletes instead of truncating (tests/postgresql/base.py).
if DATABASES["default"]["ENGINE"] == "helpdesk.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.postgresql"  # noqa: F405
