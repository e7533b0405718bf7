"""The Celery app: Redis broker, tasks discovered from each app's tasks.py, beat schedule in settings."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from . import heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
@worker_ready.connect
def keep_start_up_objects_out_of_the_collectors_way(**_) -> None:
    """Each pool process starts with the worker's loaded Django and tasks, and the main process,
    which holds every ETA timer and hands them to the pool, has them once ready (helpdesk/heap.py)."""
    heap.freeze_start_up_objects()
