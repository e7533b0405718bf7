"""A task only the heap test's worker loads (`--include`): it reports what its pool process froze."""

import gc
from pathlib import Path

from celery import shared_task


@shared_task
def write_freeze_count(path: str) -> None:
    Path(path).write_text(str(gc.get_freeze_count()))
