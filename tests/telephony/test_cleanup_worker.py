"""The clean-up and the ring countdown through a real Celery worker, stopped and restarted."""

import pytest
from django.test import override_settings
from django.utils import timezone

from helpdesk.models import Engagement
from telephony import services, tasks
from telephony.models import Call, Leg
from tests.processes import CeleryWorker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def open_legs_on_ended_calls() -> int:
    return Leg.objects.filter(state__in=Leg.OPEN_STATES, call__engagement__state=Engagement.State.ENDED).count()


def break_calls(centre, count: int) -> list[Call]:
    calls = [services.place_call(queue=centre.sales) for _ in range(count)]
    Engagement.objects.filter(pk__in=[c.engagement_id for c in calls]).update(
        state=Engagement.State.ENDED, ended_at=timezone.now(), end_reason="call_ended", owner=None
    )
    return calls


def test_clean_up_leaves_no_open_leg_on_an_ended_call_across_a_worker_restart(centre):
    break_calls(centre, 3)
    worker = CeleryWorker(name="legs").start()
    try:
        tasks.clean_up_legs.delay()
        wait_until(lambda: open_legs_on_ended_calls() == 0, timeout=30, message="first sweep")
        worker.stop()
        # While no worker runs, more calls break and sweeps pile up in the broker.
        break_calls(centre, 4)
        tasks.clean_up_legs.delay(batch_size=2)
        tasks.clean_up_legs.delay(batch_size=2)
        tasks.clean_up_legs.delay(batch_size=2)
        assert open_legs_on_ended_calls() > 0
        worker = CeleryWorker(name="legs2").start()
        wait_until(lambda: open_legs_on_ended_calls() == 0, timeout=30, message="sweeps after the restart")
    finally:
        worker.stop()
    assert not Leg.objects.filter(state__in=Leg.OPEN_STATES, call__engagement__state="ended").exists()


def test_clean_up_killed_mid_way_is_finished_by_the_next_worker(centre):
    break_calls(centre, 5)
    tasks.clean_up_legs.delay(batch_size=1)
    worker = CeleryWorker(name="killed").start()
    worker.kill()  # may die before, during or after the sweep: acks_late re-delivers it
    worker = CeleryWorker(name="after-kill").start()
    try:
        tasks.clean_up_legs.delay()
        wait_until(lambda: open_legs_on_ended_calls() == 0, timeout=60, message="sweep after a kill")
    finally:
        worker.stop()


def test_unanswered_consult_is_ended_on_time_by_the_countdown_task(centre):
    worker = CeleryWorker(name="ring").start()
    try:
        call = centre.answered_call()
        with override_settings(CONSULT_RING_TIMEOUT_SECONDS=2):
            leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
        wait_until(lambda: Leg.objects.get(pk=leg.pk).state == Leg.State.ENDED, timeout=20, message="ring timeout")
    finally:
        worker.stop()
    leg.refresh_from_db()
    assert leg.end_reason == Leg.EndReason.NO_ANSWER
    assert Call.objects.get(pk=call.pk).mode == Call.Mode.NORMAL


def test_beat_schedules_the_sweep_and_the_worker_repairs_without_being_asked(centre):
    from tests.processes import CeleryBeat

    worker = CeleryWorker(name="beat-worker").start()
    beat = CeleryBeat(LEG_SWEEP_SECONDS="1", TRANSFER_SWEEP_SECONDS="60").start()
    try:
        break_calls(centre, 2)
        wait_until(lambda: open_legs_on_ended_calls() == 0, timeout=40, message="beat-driven sweep")
    finally:
        beat.stop()
        worker.stop()
