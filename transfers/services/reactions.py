"""Reactions to the core's signals (see transfers/receivers.py): a target who becomes unavailable or
fills up, an engagement that ends.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Q

from helpdesk.models import Availability, Engagement

from ..lock_objects import lock_open_transfers_of, lock_transfer
from ..models import EndReason, Transfer, TransferOffer, TransferState
from .steps import cancel_open_transfer, end_offer_and_move_on

UNAVAILABLE_REASONS = {
    "offline": EndReason.OFFLINE,
    "logged_out": EndReason.LOGGED_OUT,
    "away": EndReason.AWAY,
    "busy": EndReason.BUSY,
    "at_capacity": EndReason.AT_CAPACITY,
}


def cancel_offers_to_unavailable_operator(*, operator_id: int, media: str, reason: str) -> int:
    """An operator left `available` (offline, away, logged out): what is offered to or accepted by them stops.

    Operator transfers are cancelled with that reason; queue transfers move to the next operator.
    Runs after the availability change commits, in its own transactions (one per transfer).
    """
    end_reason = UNAVAILABLE_REASONS.get(reason, EndReason.OFFLINE)
    candidates = list(
        Transfer.objects.filter(
            Q(state=TransferState.REQUESTED, offered_to_id=operator_id)
            | Q(state=TransferState.ACCEPTED, accepted_by_id=operator_id),
            engagement__media=media,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    stopped = 0
    for transfer_id in candidates:
        with transaction.atomic():
            transfer = lock_transfer(transfer_id)
            if transfer.state == TransferState.REQUESTED and transfer.offered_to_id == operator_id:
                end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=end_reason)
            elif transfer.state == TransferState.ACCEPTED and transfer.accepted_by_id == operator_id:
                cancel_open_transfer(transfer, reason=end_reason)
            else:
                continue
        stopped += 1
    return stopped


def _offered_operator_is_full(transfer: Transfer) -> bool:
    """The operator asked now has no room left on the engagement's media (read, not locked: lock order)."""
    return Availability.objects.filter(
        operator_id=transfer.offered_to_id, media=transfer.engagement.media, load__gte=F("capacity")
    ).exists()


def withdraw_offer_at_capacity(*, transfer_id: int) -> Transfer | None:
    """The operator a transfer is offered to filled up (routing gave them a chat): stop asking them.

    Reason `at_capacity`: an operator transfer is cancelled (the initiator's popup says why), a
    queue transfer moves to the next operator. Does nothing (None) unless the transfer is still
    requested and its offered operator is still full, so a chat that ended meanwhile, or the
    receiver and the sweep both finding it, stop it once.
    """
    with transaction.atomic():
        try:
            transfer = lock_transfer(transfer_id)
        except Transfer.DoesNotExist:
            return None
        if transfer.state != TransferState.REQUESTED or transfer.offered_to_id is None:
            return None
        if not _offered_operator_is_full(transfer):
            return None
        end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=EndReason.AT_CAPACITY)
    return transfer


def withdraw_offers_from_operator_at_capacity(*, operator_id: int, media: str) -> int:
    """An operator's load reached their capacity on `media`: every open offer to them stops (one
    transaction per transfer, after the load change committed). Returns how many stopped."""
    candidates = list(
        Transfer.objects.filter(state=TransferState.REQUESTED, offered_to_id=operator_id, engagement__media=media)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(1 for transfer_id in candidates if withdraw_offer_at_capacity(transfer_id=transfer_id) is not None)


def cancel_transfers_of_ended_engagement(*, engagement_id: int, reason: str) -> int:
    """The engagement ended (visitor left, operator ended): its open transfer is cancelled with that reason.

    Call inside the transaction that ended it, holding the engagement lock.
    """
    end_reason = EndReason.VISITOR_LEFT if reason == Engagement.EndReason.VISITOR_LEFT else EndReason.ENGAGEMENT_ENDED
    transfers = lock_open_transfers_of(engagement_id)
    for transfer in transfers:
        cancel_open_transfer(lock_transfer(transfer.pk), reason=end_reason)
    return len(transfers)
