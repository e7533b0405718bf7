"""Transfer deadlines: an unanswered offer expires, an accepted transfer nobody handed over is
cancelled, and the beat sweep catches whatever a lost timer missed. Each is a no-op when the state
already moved, so a timer and the sweep racing, or a task delivered twice, act once.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from helpdesk.models import Availability

from .. import events
from ..lock_objects import lock_transfer
from ..models import EndReason, Transfer, TransferOffer, TransferState
from ..selectors import drawn_transfers
from .reactions import withdraw_offer_at_capacity
from .steps import cancel_open_transfer, end_offer_and_move_on, offer_to_next_in_queue

logger = logging.getLogger(__name__)


def expire_transfer(*, transfer_id: int, by: str = "timer") -> Transfer | None:
    """The current offer was not answered by its deadline: an operator transfer expires, a queue one moves on.

    Does nothing (returns None) unless the transfer is requested and overdue, so a timer and the
    sweep racing, or a task delivered twice, expire it once.
    """
    with transaction.atomic():
        try:
            transfer = lock_transfer(transfer_id)
        except Transfer.DoesNotExist:
            return None
        now = timezone.now()
        if transfer.state != TransferState.REQUESTED or transfer.expires_at is None or transfer.expires_at > now:
            return None
        if not transfer.is_queue_transfer:
            Transfer.objects.filter(pk=transfer.pk).update(expired_by=by)
            transfer.expired_by = by
        end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.EXPIRED, reason=EndReason.NOT_ANSWERED)
    return transfer


def expire_hand_over(*, transfer_id: int, by: str = "timer") -> Transfer | None:
    """An accepted transfer whose initiator did not click Transfer Now by `hand_over_by` is cancelled.

    Reason `not_handed_over`: the initiator's console shows why (and keeps the conversation), the
    target is told the transfer they accepted was withdrawn, and the engagement may be transferred
    again. Does nothing (returns None) unless the transfer is still accepted and overdue, so the
    timer and the sweep racing, or a task delivered twice, cancel it once.
    """
    with transaction.atomic():
        try:
            transfer = lock_transfer(transfer_id)
        except Transfer.DoesNotExist:
            return None
        if (
            transfer.state != TransferState.ACCEPTED
            or transfer.hand_over_by is None
            or transfer.hand_over_by > timezone.now()
        ):
            return None
        Transfer.objects.filter(pk=transfer.pk).update(expired_by=by)
        transfer.expired_by = by
        cancel_open_transfer(transfer, reason=EndReason.NOT_HANDED_OVER)
    return transfer


def expire_due_operator_transfers(*, by: str, batch_size: int = 500) -> int:
    """Expire every overdue operator transfer at once: one locked batch, a few statements, one publish.

    Many deadlines falling together (a busy minute, a worker back after a pause) cost one
    transaction instead of one each. Rows another act holds right now (an accept in progress)
    are skipped, never waited for: that act decides them, or the next sweep does. Queue
    transfers move on one by one (`expire_transfer`). Returns how many expired.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Transfer.objects.select_for_update(skip_locked=True)
            .filter(state=TransferState.REQUESTED, expires_at__lte=now, target_queue__isnull=True)
            .order_by("expires_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        Transfer.objects.filter(pk__in=ids).update(
            state=TransferState.EXPIRED, end_reason=EndReason.NOT_ANSWERED, ended_at=now, expired_by=by
        )
        TransferOffer.objects.filter(transfer_id__in=ids, outcome=TransferOffer.Outcome.PENDING).update(
            outcome=TransferOffer.Outcome.EXPIRED, reason=EndReason.NOT_ANSWERED, answered_at=now
        )
        expired = drawn_transfers(Transfer.objects.filter(pk__in=ids))
        events.transfers_expired(expired)
    return len(expired)


def offer_waiting_queue_transfer(*, transfer_id: int) -> Transfer | None:
    """A queue transfer waiting with nobody asked gets offered once someone of the queue is free.

    It ends as declined (`all_declined`) if by now everyone serving the queue has declined it (the
    team changed meanwhile). Returns the transfer if it moved (offered or ended), else None.
    """
    with transaction.atomic():
        transfer = lock_transfer(transfer_id)
        if transfer.state != TransferState.REQUESTED or transfer.offered_to_id or not transfer.is_queue_transfer:
            return None
        if offer_to_next_in_queue(transfer) is None and transfer.state == TransferState.REQUESTED:
            return None
        events.transfer_updated(transfer)
    return transfer


def expire_overdue_transfers(*, batch_size: int = 200) -> int:
    """The sweep: expire every overdue offer (a lost timer, a dead worker), cancel accepted transfers past
    their hand-over deadline, and offer waiting queue transfers.

    Works in bounded batches; returns how many offers it expired plus how many hand-overs it cancelled.
    """
    expired = expire_due_operator_transfers(by="sweep", batch_size=batch_size)
    overdue_in_queues = list(
        Transfer.objects.filter(
            state=TransferState.REQUESTED, expires_at__lte=timezone.now(), target_queue__isnull=False
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired += sum(
        1 for transfer_id in overdue_in_queues if expire_transfer(transfer_id=transfer_id, by="sweep") is not None
    )
    not_handed_over = list(
        Transfer.objects.filter(state=TransferState.ACCEPTED, hand_over_by__lte=timezone.now())
        .order_by("hand_over_by", "pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired += sum(
        1 for transfer_id in not_handed_over if expire_hand_over(transfer_id=transfer_id, by="sweep") is not None
    )
    # Offers to operators who filled up without the signal telling us (a manager lowered the capacity,
    # a lost on-commit callback): stopped as at capacity.
    full = Availability.objects.filter(
        operator_id=OuterRef("offered_to_id"), media=OuterRef("engagement__media"), load__gte=F("capacity")
    )
    offered_to_full = list(
        Transfer.objects.filter(state=TransferState.REQUESTED, offered_to__isnull=False)
        .filter(Exists(full))
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    for transfer_id in offered_to_full:
        withdraw_offer_at_capacity(transfer_id=transfer_id)
    waiting = list(
        Transfer.objects.filter(state=TransferState.REQUESTED, offered_to__isnull=True, target_queue__isnull=False)
        .order_by("requested_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for transfer_id in waiting:
        try:
            offer_waiting_queue_transfer(transfer_id=transfer_id)
        except Exception:  # one bad row must not stop the sweep
            logger.exception("Could not offer queue transfer %s", transfer_id)
    return expired
