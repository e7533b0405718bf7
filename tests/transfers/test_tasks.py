"""Expiry with real Celery processes: the countdown timer on time, and the beat sweep after a dead worker."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from helpdesk.realtime import operator_group
from tests.processes import CeleryBeat, CeleryWorker, wait_until
from transfers import services, tasks
from transfers.models import Transfer, TransferOffer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


class FrameListener:
    """Joins an operator's group on the real channel layer and collects every frame sent there."""

    def __init__(self, operator_id: int):
        self.group = operator_group(operator_id)
        self.frames: list[dict] = []
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)

    async def _listen(self):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(self.group, channel)
        self._ready.set()
        # One receive loop, cancelled only at the end: polling with wait_for(receive(), timeout)
        # could drop a frame that arrived just as the timeout cancelled it (Python 3.11's wait_for).
        receiving = asyncio.ensure_future(self._collect(layer, channel))
        try:
            while not self._stop:
                await asyncio.sleep(0.05)
        finally:
            receiving.cancel()
            await layer.group_discard(self.group, channel)

    async def _collect(self, layer, channel):
        while True:
            self.frames.append((await layer.receive(channel))["frame"])

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        time.sleep(0.2)  # the subscription reaches Redis
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join(5)

    def of_state(self, state: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == "transfer.updated" and f["transfer"]["state"] == state]


def short_timeout(queue, seconds=5):
    queue.accept_timeout_seconds = seconds
    queue.save(update_fields=["accept_timeout_seconds"])


def test_timer_expires_an_unanswered_transfer_on_time(engagement, alice, bob, celery_worker_process):
    short_timeout(engagement.queue)
    with FrameListener(alice.pk) as initiator_console:
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
        transfer.refresh_from_db()
        wait_until(lambda: initiator_console.of_state("expired"), timeout=15, message="the expired frame")
    transfer.refresh_from_db()
    assert transfer.state == "expired" and transfer.expired_by == "timer"
    lateness = (transfer.ended_at - transfer.expires_at).total_seconds()
    assert 0 <= lateness < 1.0, lateness
    assert len(initiator_console.of_state("expired")) == 1


def test_sweep_expires_once_after_the_worker_died(engagement, alice, bob):
    """Stop the worker, let the deadline pass, start it again: the sweep expires it, once, and says so."""
    short_timeout(engagement.queue)
    worker = CeleryWorker().start()
    beat = None
    try:
        with FrameListener(alice.pk) as initiator_console:
            transfer = services.request_transfer(
                engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk
            )
            transfer.refresh_from_db()
            time.sleep(1)  # the worker has taken the timer (held until its eta)
            worker.kill()  # dies holding it: unacknowledged, so Redis keeps it hidden for the visibility timeout
            wait_until(lambda: timezone.now() > transfer.expires_at, timeout=10, message="the deadline")
            time.sleep(1.5)
            assert Transfer.objects.get(pk=transfer.pk).state == "requested"  # nobody left to expire it

            worker = CeleryWorker(name="worker2").start()
            beat = CeleryBeat().start()
            wait_until(lambda: initiator_console.of_state("expired"), timeout=20, message="the expired frame")
            time.sleep(3)  # more sweeps run: none may expire it again
        transfer.refresh_from_db()
        assert transfer.state == "expired"
        assert transfer.expired_by == "sweep"
        assert TransferOffer.objects.get(transfer=transfer).outcome == "expired"
        assert len(initiator_console.of_state("expired")) == 1
        assert "expire_overdue_transfers" in worker.output()
    finally:
        worker.stop()
        if beat is not None:
            beat.stop()


def test_timer_task_is_harmless_for_an_answered_or_unknown_transfer(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert tasks.expire_transfer(transfer.pk) is False
    assert tasks.expire_transfer(999_999) is False
    assert Transfer.objects.get(pk=transfer.pk).state == "accepted"
    assert tasks.expire_overdue_transfers() == 0


# --- the hand-over deadline of an accepted transfer ------------------------------------------------------


def offer_ended_to(listener: FrameListener, reason: str) -> list[dict]:
    return [f for f in listener.frames if f["type"] == "transfer.offer_ended" and f["reason"] == reason]


def transfer_now(transfer) -> str:
    """The transfer as the database has it, for failure messages."""
    transfer.refresh_from_db()
    return f"state={transfer.state} end_reason={transfer.end_reason} hand_over_by={transfer.hand_over_by}"


def test_timer_cancels_an_accepted_transfer_not_handed_over_on_time(
    engagement, alice, bob, settings, celery_worker_process
):
    settings.TRANSFER_HAND_OVER_TIMEOUT_SECONDS = 3
    with FrameListener(alice.pk) as initiator_console, FrameListener(bob.pk) as target_console:
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
        wait_until(
            lambda: initiator_console.of_state("cancelled"),
            timeout=15,
            message=lambda: (
                f"the cancelled frame; {transfer_now(transfer)}; worker:\n{celery_worker_process.output()[-3000:]}"
            ),
        )
        wait_until(lambda: offer_ended_to(target_console, "not_handed_over"), timeout=5, message="the target told")
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason, transfer.expired_by) == ("cancelled", "not_handed_over", "timer")
    lateness = (transfer.ended_at - transfer.hand_over_by).total_seconds()
    assert 0 <= lateness < 1.0, lateness
    [frame] = initiator_console.of_state("cancelled")
    assert frame["transfer"]["end_reason_label"] == "Transfer Now was not clicked in time"
    engagement.refresh_from_db()
    assert engagement.owner_id == alice.pk


def test_sweep_cancels_an_overdue_hand_over_once_after_the_worker_died(engagement, alice, bob, settings):
    settings.TRANSFER_HAND_OVER_TIMEOUT_SECONDS = 3
    worker = CeleryWorker().start()
    beat = None
    try:
        with FrameListener(alice.pk) as initiator_console:
            transfer = services.request_transfer(
                engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk
            )
            services.accept_transfer(transfer_id=transfer.pk, operator=bob)
            transfer.refresh_from_db()
            time.sleep(1)  # the worker holds the accept-expiry and hand-over timers until their eta
            worker.kill()
            wait_until(lambda: timezone.now() > transfer.hand_over_by, timeout=10, message="the deadline")
            time.sleep(1.5)
            assert Transfer.objects.get(pk=transfer.pk).state == "accepted"  # nobody left to cancel it

            worker = CeleryWorker(name="worker2").start()
            beat = CeleryBeat().start()
            wait_until(lambda: initiator_console.of_state("cancelled"), timeout=20, message="the cancelled frame")
            time.sleep(3)  # more sweeps run: none may cancel it again
        transfer.refresh_from_db()
        assert (transfer.state, transfer.end_reason, transfer.expired_by) == ("cancelled", "not_handed_over", "sweep")
        assert len(initiator_console.of_state("cancelled")) == 1
    finally:
        worker.stop()
        if beat is not None:
            beat.stop()


def test_hand_over_task_is_harmless_for_a_completed_or_unknown_transfer(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert tasks.expire_hand_over(transfer.pk) is False  # not due yet
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    Transfer.objects.filter(pk=transfer.pk).update(hand_over_by=timezone.now())
    assert tasks.expire_hand_over(transfer.pk) is False
    assert tasks.expire_hand_over(999_999) is False
    assert Transfer.objects.get(pk=transfer.pk).state == "completed"
