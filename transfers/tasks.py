"""Transfer timers. Thin: they take ids, re-read state in the service, and are harmless run twice."""

from __future__ import annotations

import time

from celery import shared_task
from django.utils import timezone

from . import services
from .models import Transfer

# A timer that fires a hair early waits for the deadline rather than leaving it to the next sweep.
EARLY_WAIT_LIMIT_SECONDS = 1.0


def _due(deadline) -> bool:
    """Whether a timer's deadline has come: one that fires a hair early waits for it; one that fires
    earlier than that (a redelivered or mis-timed task) is not due, and its task arms itself again."""
    early = (deadline - timezone.now()).total_seconds()
    if early > EARLY_WAIT_LIMIT_SECONDS:
        return False
    if early > 0:
        time.sleep(early)
    return True


@shared_task(acks_late=True, ignore_result=True)
def expire_transfer(transfer_id: int) -> bool:
    """Scheduled with the offer's deadline as eta: expire it if it is still unanswered."""
    expires_at = Transfer.objects.filter(pk=transfer_id).values_list("expires_at", flat=True).first()
    if expires_at is None:
        return False
    if not _due(expires_at):
        expire_transfer.apply_async((transfer_id,), eta=expires_at)
        return False
    # Deadlines often fall together: expire every due operator transfer in one go, then this one
    # (a queue transfer moves on by itself). A timer that finds its transfer done does nothing.
    services.expire_due_operator_transfers(by="timer")
    expired_now = services.expire_transfer(transfer_id=transfer_id, by="timer") is not None
    return expired_now or Transfer.objects.filter(pk=transfer_id, expired_by="timer").exists()


@shared_task(acks_late=True, ignore_result=True)
def expire_overdue_transfers(batch_size: int = 200) -> int:
    """Beat sweep (every TRANSFER_SWEEP_SECONDS): expire overdue offers and hand-overs in bounded batches,
    offer waiting ones.

    batch_size: at most this many overdue transfers (and waiting queue transfers) per run; the next run
    takes the rest.
    """
    return services.expire_overdue_transfers(batch_size=batch_size)


@shared_task(acks_late=True, ignore_result=True)
def expire_hand_over(transfer_id: int) -> bool:
    """Scheduled at acceptance with `hand_over_by` as eta: cancel it if Transfer Now has not come."""
    hand_over_by = Transfer.objects.filter(pk=transfer_id).values_list("hand_over_by", flat=True).first()
    if hand_over_by is None:
        return False
    if not _due(hand_over_by):
        expire_hand_over.apply_async((transfer_id,), eta=hand_over_by)
        return False
    return services.expire_hand_over(transfer_id=transfer_id, by="timer") is not None
