"""Server processes keep their start-up objects out of the garbage collector's full walks
(helpdesk/heap.py): a loaded Django process holds ~150,000 of them, and walking them all stalled the
process for ~75 ms on the 2-core box, in the middle of whatever it was serving."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpdesk.celery import app
from tests.processes import ROOT, CeleryWorker, child_env, wait_until

FROZEN_AT_LEAST = 50_000  # a loaded process has ~150,000; an unfrozen one has 0


def test_the_web_application_loads_its_views_then_freezes_what_it_loaded():
    probe = (
        "import gc, sys, helpdesk.asgi; "
        "print(gc.get_freeze_count(), len(gc.get_objects()), 'transfers.views' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    frozen, still_walked, views_loaded = int(output[-3]), int(output[-2]), output[-1]
    assert frozen >= FROZEN_AT_LEAST
    assert still_walked < frozen / 10  # what a full collection still walks right after start-up
    assert views_loaded == "True"  # loaded before the freeze, not on the first request


@pytest.mark.worker
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_workers_task_runs_with_the_workers_start_up_objects_frozen(pool, tmp_path):
    """prefork (the Procfile's pool): the pool process froze as it started; solo: the task runs in
    the main process, which froze once ready (it also holds the ETA timers in a prefork worker)."""
    worker = CeleryWorker(name=f"heap-{pool}")
    worker.args[worker.args.index("solo")] = pool
    worker.args += ["--include", "tests.helpdesk.heap_probe"]
    worker.start()
    try:
        report = tmp_path / "frozen"
        app.send_task("tests.helpdesk.heap_probe.write_freeze_count", args=[str(report)])
        wait_until(lambda: report.exists() and report.read_text(), timeout=20)
        assert int(report.read_text()) >= FROZEN_AT_LEAST
    finally:
        worker.stop()
