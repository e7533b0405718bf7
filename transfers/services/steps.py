"""The steps transfer acts share. Every function here expects the caller to hold the transfer's row
lock (`lock_objects.lock_transfer`, after the engagement's when it needs both) and to have checked
the rule it enforces; frames and timers go out on commit.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from helpdesk import events as core_events
from helpdesk.lock_objects import free_availabilities
from helpdesk.models import Availability, Operator
from helpdesk.services.routing import candidate_availabilities, pick_free_availability

from .. import events
from ..errors import TransferError, TransferErrorCode
from ..models import OPEN_STATES, EndReason, Transfer, TransferOffer, TransferState, can_move


def move(transfer: Transfer, to_state: str, **fields) -> None:
    """Write a transition allowed by the table; the caller holds the row lock and checked the rule."""
    if not can_move(transfer.state, to_state):
        raise TransferError(TransferErrorCode.NO_LONGER_OPEN)
    now = timezone.now()
    fields.setdefault("ended_at", None if to_state in OPEN_STATES else now)
    updated = Transfer.objects.filter(pk=transfer.pk, state=transfer.state).update(state=to_state, **fields)
    if not updated:  # unreachable under the row lock; kept as the compare-and-set guard
        raise TransferError(TransferErrorCode.NO_LONGER_OPEN)
    transfer.state = to_state
    for name, value in fields.items():
        setattr(transfer, name, value)


def schedule_expiry(transfer: Transfer) -> None:
    from ..tasks import expire_transfer as expire_task

    transfer_id, eta = transfer.pk, transfer.expires_at

    def send():
        expire_task.apply_async((transfer_id,), eta=eta)

    transaction.on_commit(send, robust=True)


def hand_over_timeout() -> timedelta:
    """How long the initiator has to click Transfer Now once the target accepted (a setting)."""
    return timedelta(seconds=max(1, int(settings.TRANSFER_HAND_OVER_TIMEOUT_SECONDS)))


def schedule_hand_over_expiry(transfer: Transfer) -> None:
    from ..tasks import expire_hand_over as expire_task

    transfer_id, eta = transfer.pk, transfer.hand_over_by

    def send():
        expire_task.apply_async((transfer_id,), eta=eta)

    transaction.on_commit(send, robust=True)


def offer_to(transfer: Transfer, operator: Operator) -> TransferOffer:
    now = timezone.now()
    expires_at = now + timedelta(seconds=transfer.accept_timeout_seconds)
    offer = TransferOffer.objects.create(transfer=transfer, operator=operator, offered_at=now, expires_at=expires_at)
    Transfer.objects.filter(pk=transfer.pk).update(offered_to=operator, expires_at=expires_at)
    transfer.offered_to = operator
    transfer.expires_at = expires_at
    events.transfer_offered(transfer)
    schedule_expiry(transfer)
    return offer


def close_pending_offer(transfer: Transfer, *, outcome: str, reason: str = "", reason_text: str = "") -> None:
    """End the offer the transfer is waiting on (if any) and close the prompt on that operator's console."""
    if transfer.offered_to_id is None:
        return
    TransferOffer.objects.filter(transfer=transfer, outcome=TransferOffer.Outcome.PENDING).update(
        outcome=outcome, reason=reason, reason_text=reason_text, answered_at=timezone.now()
    )
    events.offer_ended(transfer, operator_id=transfer.offered_to_id, outcome=outcome, reason=reason)


def queue_changed(transfer: Transfer) -> None:
    """A queue transfer started or stopped waiting: the queue's site gets fresh counts (on commit), and
    initiators of other waiting transfers resync their position from that frame."""
    core_events.queues_changed(transfer.target_queue.site_id)


def _decliners(transfer: Transfer) -> set[int]:
    return set(transfer.offers.filter(outcome=TransferOffer.Outcome.DECLINED).values_list("operator_id", flat=True))


def _pick_next_in_queue(transfer: Transfer) -> Availability | None:
    """Lock the availability of the next operator to ask, or None if nobody of the queue is free.

    Policy (ADR 0001, "a queue nobody takes"): never the initiator or the owner; never again an
    operator who declined this transfer; operators not asked yet first (routing's rule: available,
    under capacity, longest idle first); then operators whose offer expired or was withdrawn, the
    one asked longest ago first, so two who let it ring take turns.
    """
    offers = transfer.offers.values("operator_id").annotate(last=Max("offered_at"))
    last_asked = {row["operator_id"]: row["last"] for row in offers}
    declined = _decliners(transfer)
    never = {transfer.initiator_id, transfer.engagement.owner_id or transfer.initiator_id} | declined
    queue = transfer.target_queue
    availability = pick_free_availability(queue=queue, exclude_operator_ids=tuple(never | set(last_asked)))
    if availability is not None:
        return availability
    again = candidate_availabilities(queue=queue, exclude_operator_ids=tuple(never))
    for operator_id in sorted(
        (op for op in again.values_list("operator_id", flat=True) if op in last_asked), key=last_asked.__getitem__
    ):
        availability = free_availabilities(again.filter(operator_id=operator_id)).first()
        if availability is not None:
            return availability
    return None


def _everyone_declined(transfer: Transfer) -> bool:
    """Every operator serving the queue (but the initiator and the owner) declined this transfer."""
    serving = set(
        Operator.objects.filter(teams__queues=transfer.target_queue_id).values_list("pk", flat=True).distinct()
    ) - {transfer.initiator_id, transfer.engagement.owner_id}
    if not serving:
        return False  # nobody serves it yet: it waits (a manager may staff it); the initiator may cancel
    declined = _decliners(transfer)
    return serving <= declined


def offer_to_next_in_queue(transfer: Transfer, *, fresh: bool = False) -> TransferOffer | None:
    """Offer a queue transfer to the next operator of the queue (see `_pick_next_in_queue`).

    Nobody free: the transfer waits in the queue (no offer, no deadline) until the sweep finds
    someone. Everyone serving the queue declined: the transfer ends as declined (`all_declined`),
    so the initiator gets the popup with Back instead of waiting forever. `fresh`: just requested.
    """
    was_waiting = not fresh and transfer.offered_to_id is None
    availability = _pick_next_in_queue(transfer)
    offer = None
    if availability is not None:
        offer = offer_to(transfer, availability.operator)
    else:
        Transfer.objects.filter(pk=transfer.pk).update(offered_to=None, expires_at=None)
        transfer.offered_to = None
        transfer.expires_at = None
        if _everyone_declined(transfer):
            move(
                transfer,
                TransferState.DECLINED,
                end_reason=EndReason.ALL_DECLINED,
                reason_text="",
                answered_at=timezone.now(),
            )
    if was_waiting != (transfer.state == TransferState.REQUESTED and transfer.offered_to_id is None):
        queue_changed(transfer)
    return offer


def end_offer_and_move_on(transfer: Transfer, *, outcome: str, reason: str, reason_text: str = "") -> None:
    """An offer ended without acceptance: a queue transfer tries the next operator (or ends when everyone
    declined), an operator transfer stops."""
    close_pending_offer(transfer, outcome=outcome, reason=reason, reason_text=reason_text)
    now = timezone.now()
    if transfer.is_queue_transfer:
        offer_to_next_in_queue(transfer)
    else:
        to_state = {
            TransferOffer.Outcome.DECLINED: TransferState.DECLINED,
            TransferOffer.Outcome.EXPIRED: TransferState.EXPIRED,
        }.get(outcome, TransferState.CANCELLED)
        fields = {"end_reason": reason, "reason_text": reason_text}
        if to_state == TransferState.DECLINED:
            fields["answered_at"] = now
        move(transfer, to_state, **fields)
    events.transfer_updated(transfer)


def cancel_open_transfer(transfer: Transfer, *, reason: str) -> None:
    """Stop an open transfer; a pending offer is withdrawn and an accepted target is told."""
    if transfer.state == TransferState.REQUESTED:
        if transfer.is_queue_transfer and transfer.offered_to_id is None:
            queue_changed(transfer)  # it leaves the queue it waited in
        close_pending_offer(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=reason)
    elif transfer.state == TransferState.ACCEPTED and transfer.accepted_by_id:
        events.offer_ended(
            transfer, operator_id=transfer.accepted_by_id, outcome=TransferOffer.Outcome.WITHDRAWN, reason=reason
        )
    move(transfer, TransferState.CANCELLED, end_reason=reason)
    events.transfer_updated(transfer)


def why_unavailable(availability: Availability | None) -> str:
    if availability is None or availability.status == Availability.Status.OFFLINE:
        return "is offline"
    if availability.status != Availability.Status.AVAILABLE:
        return f"is {availability.get_status_display().lower()}"
    if availability.wrap_ups and availability.load < availability.capacity:
        return "is wrapping up a contact"
    return "has reached their capacity"
