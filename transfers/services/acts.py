"""The acts of a chat transfer, one function each: request, accept, decline, cancel, Transfer Now.

Each locks the transfer row (after the engagement row when it needs both) and re-checks state
under the lock, then writes through the steps in steps.py.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.errors import ChatError
from helpdesk.lock_objects import lock_engagement
from helpdesk.models import Availability, DispositionCode, Engagement, Media, Note, Operator, Queue
from helpdesk.services.engagements import add_note, clean_text, hand_over_locked
from helpdesk.services.wrapup import clean_code

from .. import events
from ..errors import TransferError, TransferErrorCode
from ..lock_objects import lock_engagement_of, lock_transfer
from ..models import OPEN_STATES, EndReason, Transfer, TransferOffer, TransferState
from .steps import (
    cancel_open_transfer,
    end_offer_and_move_on,
    hand_over_timeout,
    move,
    offer_to,
    offer_to_next_in_queue,
    schedule_hand_over_expiry,
    why_unavailable,
)

WARM_MESSAGE_MAX_LENGTH = 1000
DECLINE_REASON_MAX_LENGTH = 200


def _save_warm_message(*, engagement_id: int, initiator: Operator, warm_message: str) -> Note:
    """The warm message becomes a transfer note at once, so it stays whatever happens to the transfer.

    Retrying with the same text (Back, then another target) reuses the note instead of repeating it.
    """
    with transaction.atomic():
        engagement = Engagement.objects.get(pk=engagement_id)
        if engagement.owner_id != initiator.pk:
            raise TransferError(TransferErrorCode.NOT_OWNER)
        existing = (
            Note.objects.filter(engagement=engagement, author=initiator, source=Note.Source.TRANSFER)
            .order_by("-created_at", "-pk")
            .first()
        )
        if existing is not None and existing.body == warm_message:
            return existing
    return add_note(engagement_id=engagement_id, author=initiator, body=warm_message, source=Note.Source.TRANSFER)


def request_transfer(
    *,
    engagement_id: int,
    initiator: Operator,
    target_operator_id: int | None = None,
    target_queue_id: int | None = None,
    warm_message: str = "",
    reason_id: object = None,
) -> Transfer:
    """The owner asks another operator (or a queue) to take the engagement.

    Rules: only the owner of an active engagement; one open transfer per engagement (database
    constraint); an operator target must be able to take it now (available, under capacity, not
    in wrap-up) and is not yourself; a queue target takes the engagement's media. The reason is an
    active transfer reason of the engagement's queue, required where the queue says so; a bad one
    (CodeError) is refused before anything is written. The warm message is saved as a transfer
    note first, and kept even if the request or the transfer fails.
    """
    if (target_operator_id is None) == (target_queue_id is None):
        raise TransferError(TransferErrorCode.NO_TARGET)
    if target_operator_id is not None and target_operator_id == initiator.pk:
        raise TransferError(TransferErrorCode.SELF_TARGET)
    source = Engagement.objects.select_related("queue").filter(pk=engagement_id).first()
    if source is None or source.owner_id != initiator.pk:
        raise TransferError(TransferErrorCode.NOT_OWNER)
    reason = clean_code(
        queue=source.queue,
        kind=DispositionCode.Kind.TRANSFER,
        value=reason_id,
        required=source.queue.transfer_reason_required,
    )
    warm_message = (warm_message or "").strip()
    note = None
    if warm_message:
        try:
            warm_message = clean_text(warm_message, field="warm message", max_length=WARM_MESSAGE_MAX_LENGTH)
        except ChatError as error:
            raise TransferError(TransferErrorCode.INVALID, error.message) from None
        note = _save_warm_message(engagement_id=engagement_id, initiator=initiator, warm_message=warm_message)

    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if engagement.owner_id != initiator.pk:
            raise TransferError(TransferErrorCode.NOT_OWNER)
        if engagement.state != Engagement.State.ACTIVE:
            raise TransferError(TransferErrorCode.ENGAGEMENT_ENDED)
        if engagement.media != Media.CHAT:
            raise TransferError(TransferErrorCode.WRONG_MEDIA, "Calls are transferred from the phone console.")
        if Transfer.objects.filter(engagement=engagement, state__in=OPEN_STATES).exists():
            raise TransferError(TransferErrorCode.ALREADY_OPEN)

        target_operator = target_queue = None
        if target_operator_id is not None:
            target_operator = Operator.objects.filter(pk=target_operator_id).first()
            if target_operator is None:
                raise TransferError(TransferErrorCode.INVALID, "That operator does not exist.")
            availability = Availability.objects.filter(operator=target_operator, media=engagement.media).first()
            if availability is None or not availability.has_room:
                raise TransferError(
                    TransferErrorCode.TARGET_UNAVAILABLE,
                    f"{target_operator.display_name} {why_unavailable(availability)} and cannot take a chat now.",
                )
            timeout = engagement.queue.accept_timeout_seconds
        else:
            target_queue = Queue.objects.filter(pk=target_queue_id).first()
            if target_queue is None:
                raise TransferError(TransferErrorCode.INVALID, "That queue does not exist.")
            if target_queue.media != engagement.media:
                raise TransferError(TransferErrorCode.WRONG_MEDIA)
            timeout = target_queue.accept_timeout_seconds

        try:
            with transaction.atomic():
                transfer = Transfer.objects.create(
                    engagement=engagement,
                    initiator=initiator,
                    target_operator=target_operator,
                    target_queue=target_queue,
                    note=note,
                    reason=reason,
                    accept_timeout_seconds=timeout,
                    requested_at=timezone.now(),
                )
        except IntegrityError:
            raise TransferError(TransferErrorCode.ALREADY_OPEN) from None
        transfer.engagement = engagement
        if target_operator is not None:
            offer_to(transfer, target_operator)
        else:
            offer_to_next_in_queue(transfer, fresh=True)
        events.transfer_updated(transfer)
    return transfer


def accept_transfer(*, transfer_id: int, operator: Operator) -> Transfer:
    """The offered operator takes the transfer. Accepting twice is harmless.

    Only the operator it is offered to, before its deadline; if another operator took it (or a
    queue offer moved on), "already taken". An operator at capacity cannot accept: an operator
    transfer then stops with that reason, a queue transfer moves to the next operator.
    """
    refusal: TransferError | None = None
    with transaction.atomic():
        transfer = lock_transfer(transfer_id)
        if transfer.state in (TransferState.ACCEPTED, TransferState.COMPLETED):
            if transfer.accepted_by_id == operator.pk:
                return transfer
            raise TransferError(TransferErrorCode.ALREADY_TAKEN)
        was_offered = transfer.offers.filter(operator=operator).exists()
        if transfer.state != TransferState.REQUESTED:
            if not was_offered:
                raise TransferError(TransferErrorCode.NOT_OFFERED)
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, f"This transfer was {transfer.get_state_display()}.")
        if transfer.offered_to_id != operator.pk:
            if was_offered:
                raise TransferError(TransferErrorCode.ALREADY_TAKEN, "This transfer has moved on to another operator.")
            raise TransferError(TransferErrorCode.NOT_OFFERED)
        now = timezone.now()
        if transfer.expires_at <= now:
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, "The time to accept this transfer has run out.")
        availability = Availability.objects.filter(operator=operator, media=transfer.engagement.media).first()
        if availability is None or availability.load >= availability.capacity:
            end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=EndReason.AT_CAPACITY)
            refusal = TransferError(TransferErrorCode.AT_CAPACITY)
        else:
            TransferOffer.objects.filter(transfer=transfer, outcome=TransferOffer.Outcome.PENDING).update(
                outcome=TransferOffer.Outcome.ACCEPTED, answered_at=now
            )
            move(
                transfer,
                TransferState.ACCEPTED,
                accepted_by=operator,
                answered_at=now,
                hand_over_by=now + hand_over_timeout(),
            )
            events.offer_ended(transfer, operator_id=operator.pk, outcome=TransferOffer.Outcome.ACCEPTED)
            events.transfer_updated(transfer)
            events.history_to_accepted_target(transfer)
            schedule_hand_over_expiry(transfer)
    if refusal is not None:
        raise refusal
    return transfer


def decline_transfer(*, transfer_id: int, operator: Operator, reason: str = "") -> Transfer:
    """The offered operator says no, optionally saying why. Declining twice is harmless.

    An operator transfer stops as declined with the reason; a queue transfer is offered to the next operator.
    """
    reason = (reason or "").strip()[:DECLINE_REASON_MAX_LENGTH]
    with transaction.atomic():
        transfer = lock_transfer(transfer_id)
        if transfer.offers.filter(operator=operator, outcome=TransferOffer.Outcome.DECLINED).exists():
            return transfer
        taken = transfer.state in (TransferState.ACCEPTED, TransferState.COMPLETED)
        if taken and transfer.accepted_by_id != operator.pk:
            raise TransferError(TransferErrorCode.ALREADY_TAKEN)
        if transfer.state != TransferState.REQUESTED:
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN)
        if transfer.offered_to_id != operator.pk:
            raise TransferError(TransferErrorCode.NOT_OFFERED)
        end_offer_and_move_on(
            transfer, outcome=TransferOffer.Outcome.DECLINED, reason=EndReason.DECLINED, reason_text=reason
        )
    return transfer


def cancel_transfer(*, transfer_id: int, operator: Operator) -> Transfer:
    """The initiator withdraws an open transfer (requested, waiting in a queue, or accepted). Twice is harmless."""
    with transaction.atomic():
        transfer = lock_transfer(transfer_id)
        if transfer.initiator_id != operator.pk:
            raise TransferError(TransferErrorCode.NOT_INITIATOR)
        if transfer.state == TransferState.CANCELLED:
            return transfer
        if not transfer.is_open:
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, f"This transfer was {transfer.get_state_display()}.")
        cancel_open_transfer(transfer, reason=EndReason.CANCELLED_BY_INITIATOR)
    return transfer


def _hand_over_now(transfer: Transfer, engagement: Engagement) -> TransferError | None:
    """Move the engagement to the operator who accepted (caller holds engagement and transfer locks).

    Returns the refusal to raise once the transaction commits (the target filled up), or None.
    """
    new_owner = transfer.accepted_by
    now = timezone.now()  # before the hand-over's system line: the initiator's copy ends here, without it
    try:  # every refusal comes before the hand-over writes anything: no savepoint needed
        hand_over_locked(
            engagement,
            to_operator_id=new_owner.pk,
            announce=f"You are now chatting with {new_owner.display_name}.",
            push_detail=False,  # they hold the history since accepting (`transfer.history`)
        )
    except ChatError as error:
        if error.code != "at_capacity":
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, error.message) from None
        cancel_open_transfer(transfer, reason=EndReason.AT_CAPACITY)
        return TransferError(TransferErrorCode.AT_CAPACITY, f"{new_owner.display_name} has reached their capacity.")
    move(transfer, TransferState.COMPLETED, completed_at=now, ended_at=now)
    events.transfer_updated(transfer)
    return None


def transfer_now(*, transfer_id: int, operator: Operator) -> Transfer:
    """The initiator hands an accepted transfer over: ownership moves atomically. Twice is one hand-off.

    Only the initiator, only once accepted and before `hand_over_by` (past it, the transfer is
    cancelled as `not_handed_over`, as the timer would). If the target has no room left, the
    transfer stops with "at capacity" and the initiator keeps the engagement. Returns the transfer
    as written, its relations drawn (the view answers with it, unread: `views.answer`).
    """
    refusal: TransferError | None = None
    with transaction.atomic():
        if not lock_engagement_of(transfer_id):
            raise TransferError(TransferErrorCode.INVALID, "That transfer does not exist.")
        transfer = lock_transfer(transfer_id)
        # Read with the transfer after both locks, its visitor along: the engagement as it is now.
        engagement = transfer.engagement
        if transfer.initiator_id != operator.pk:
            raise TransferError(TransferErrorCode.NOT_INITIATOR)
        if transfer.state == TransferState.COMPLETED:
            return transfer
        if transfer.state == TransferState.REQUESTED:
            raise TransferError(TransferErrorCode.NOT_ACCEPTED)
        if transfer.state != TransferState.ACCEPTED:
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, f"This transfer was {transfer.get_state_display()}.")
        if transfer.hand_over_by is not None and transfer.hand_over_by <= timezone.now():
            # The deadline is the deadline, as for accepting: cancel now rather than wait for the sweep.
            Transfer.objects.filter(pk=transfer.pk).update(expired_by="act")
            cancel_open_transfer(transfer, reason=EndReason.NOT_HANDED_OVER)
            refusal = TransferError(
                TransferErrorCode.NO_LONGER_OPEN,
                "The time to click Transfer Now ran out, so the transfer was cancelled. You still have the chat.",
            )
        else:
            if engagement.state == Engagement.State.ENDED:
                raise TransferError(TransferErrorCode.ENGAGEMENT_ENDED)
            if engagement.owner_id != operator.pk:
                raise TransferError(TransferErrorCode.NOT_OWNER)
            refusal = _hand_over_now(transfer, engagement)
    if refusal is not None:
        raise refusal
    return transfer
