"""The clean-up and the ring countdown through a real Celery worker, stopped, killed and restarted."""

import re
from contextlib import contextmanager

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from helpdesk.models import Engagement
from telephony import services, tasks
from telephony.models import Call, Leg
from tests.processes import CeleryWorker, wait_until
from tests.processes import test_database_url as database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


REDELIVERY_SETTINGS = "tests.telephony.worker_settings"
SWEEP_RECEIVED = re.compile(r"Task telephony\.tasks\.clean_up_legs\[[0-9a-f-]+\] received")
RING_RECEIVED = re.compile(r"Task telephony\.tasks\.ring_timeout\[[0-9a-f-]+\] received")


@contextmanager
def row_locked(model, pk: int):
    """Hold a row lock (SELECT … FOR UPDATE) from a connection of our own until the block ends."""
    with psycopg.connect(database_url()) as holder:
        holder.execute(f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR UPDATE", [pk])
        yield
        holder.rollback()


def prefork(worker: CeleryWorker) -> CeleryWorker:
    """The same worker with one prefork child instead of the solo pool: the task runs in the child
    while the parent keeps its event loop, so a task that is not acks_late would be acknowledged
    to Redis as it starts (a blocked solo worker never gets to send that ack, which would let the
    redelivery test pass without acks_late). SIGKILL goes to the whole process group."""
    worker.args[worker.args.index("solo")] = "prefork"
    return worker


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def broker_queue_length() -> int:
    """Messages of this run's queue still waiting in Redis (not yet handed to a worker)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        return client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    finally:
        client.close()


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


def test_clean_up_killed_mid_way_is_redelivered_to_the_next_worker(centre):
    """A sweep the worker had received and was running when it was SIGKILLed is finished by the
    next worker through **acks_late redelivery**: the message was never acknowledged, so Redis
    hands it out again (after the visibility timeout, shortened in worker_settings). No beat runs
    and no fresh sweep is queued, so only the redelivered sweep can clean these legs.

    To kill it mid-way for certain, the test holds a row lock on the first broken call's
    engagement: the sweep blocks there (seen in pg_stat_activity) after the worker logged that it
    received the task. The killed worker uses a prefork child, so without acks_late its parent
    would have acknowledged the sweep as it started and this test would time out (checked)."""
    calls = break_calls(centre, 5)
    broken = open_legs_on_ended_calls()
    first = min(call.engagement_id for call in calls)
    with row_locked(Engagement, first):
        tasks.clean_up_legs.delay()
        worker = prefork(CeleryWorker(name="killed")).start()
        try:
            wait_until(lambda: SWEEP_RECEIVED.search(worker.output()), timeout=30, message="sweep received")
            wait_until(lambda: waiting_on_a_lock() > 0, timeout=30, message="sweep blocked mid-way")
        finally:
            worker.kill()
        assert open_legs_on_ended_calls() == broken  # the killed sweep finished nothing
    worker = CeleryWorker(name="after-kill", DJANGO_SETTINGS_MODULE=REDELIVERY_SETTINGS).start()
    try:
        wait_until(lambda: open_legs_on_ended_calls() == 0, timeout=60, message="redelivered sweep")
    finally:
        worker.stop()
    assert SWEEP_RECEIVED.search(worker.output()), "the next worker was given the killed worker's sweep"


def test_a_ring_countdown_held_by_a_killed_worker_still_ends_the_consult_after_a_restart(centre):
    """The ring countdown (an ETA task) that a worker had received and was holding when it was
    SIGKILLed runs on the next worker: a held ETA message stays unacknowledged until its task has
    run (acks_late), so Redis **redelivers** it to the restarted worker, and the unanswered consult
    still ends with the initiator back with the customer. It ends as `no_answer`, the countdown's
    reason: the beat sweep (not running here) would have ended it as `cancelled`."""
    call = centre.answered_call()
    with override_settings(CONSULT_RING_TIMEOUT_SECONDS=12):
        leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    worker = CeleryWorker(name="ring-killed").start()
    try:
        # Everything queued so far (this consult's countdown last) is now held by this worker.
        wait_until(
            lambda: broker_queue_length() == 0 and RING_RECEIVED.search(worker.output()),
            timeout=30,
            message="ring countdown received",
        )
    finally:
        worker.kill()
    assert Leg.objects.get(pk=leg.pk).state == Leg.State.RINGING, "killed before the deadline"
    worker = CeleryWorker(name="ring-after-kill", DJANGO_SETTINGS_MODULE=REDELIVERY_SETTINGS).start()
    try:
        wait_until(lambda: not Leg.objects.get(pk=leg.pk).is_open, timeout=60, message="redelivered countdown")
    finally:
        worker.stop()
    leg.refresh_from_db()
    assert leg.end_reason == Leg.EndReason.NO_ANSWER
    call = Call.objects.get(pk=call.pk)
    assert call.mode == Call.Mode.NORMAL and call.initiator is None
    owner_leg = Leg.objects.get(call=call, kind=Leg.Kind.OPERATOR)
    assert owner_leg.operator == centre.a and owner_leg.state == Leg.State.CONNECTED
    assert Leg.objects.get(call=call, kind=Leg.Kind.CUSTOMER).state == Leg.State.HELD  # back with A, on hold


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
