"""The overflow sweep in real Celery processes: beat schedules it, a worker runs it, once per engagement."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk import tasks
from helpdesk.models import Engagement
from tests.factories import EngagementFactory, OperatorFactory
from tests.helpdesk.test_overflow import two_queues
from tests.processes import CeleryBeat, CeleryWorker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_beat_sweep_overflows_a_due_engagement_to_the_overflow_operator_once():
    home, overflow, _, overflow_team = two_queues(after_seconds=30)
    helper = OperatorFactory(site=home.site, teams=[overflow_team], available=["chat"])
    now = timezone.now()
    due = EngagementFactory(queue=home, queued_at=now - timedelta(seconds=40), overflow_at=now - timedelta(seconds=10))
    later = EngagementFactory(queue=home, queued_at=now, overflow_at=now + timedelta(minutes=5))
    assert tasks.overflow_due_engagements_task.acks_late
    worker = CeleryWorker(name="overflow", OVERFLOW_SWEEP_SECONDS="0.5").start()
    beat = CeleryBeat(OVERFLOW_SWEEP_SECONDS="0.5").start()
    try:
        wait_until(
            lambda: Engagement.objects.get(pk=due.pk).owner_id == helper.pk,
            timeout=20,
            message=lambda: f"the overflow operator to get it; worker:\n{worker.output()[-2000:]}",
        )
        time.sleep(1.5)  # more sweeps run: nothing changes
    finally:
        beat.stop()
        worker.stop()
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.state == Engagement.State.ACTIVE and due.overflow_queue == overflow and due.queue == home
    assert due.ownerships.count() == 1
    assert later.overflow_queue is None and later.state == Engagement.State.QUEUED
    assert worker.output().count("overflow_due_engagements_task") >= 2
