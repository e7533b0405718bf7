"""Acts of a chat transfer, one function each; the state machine is `models.TRANSITIONS`.

Race-safety: every act locks the transfer row (after the engagement row when it needs both,
see lock_objects) and re-checks state under the lock, then writes. The database backs the
rules: one open transfer per engagement, one pending offer per transfer, one owner per
engagement, capacity never exceeded. Frames and the expiry task go out on commit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from helpdesk import events as core_events
from helpdesk.errors import ChatError
from helpdesk.lock_objects import free_availabilities, lock_engagement
from helpdesk.models import Availability, Engagement, Media, Note, Operator, Queue
from helpdesk.services.engagements import add_note, clean_text, hand_over, post_system_message
from helpdesk.services.routing import candidate_availabilities, pick_free_availability

from . import events
from .errors import TransferError, TransferErrorCode
from .lock_objects import lock_open_transfers_of, lock_transfer
from .models import OPEN_STATES, EndReason, Transfer, TransferOffer, TransferState, can_move

logger = logging.getLogger(__name__)

WARM_MESSAGE_MAX_LENGTH = 1000
DECLINE_REASON_MAX_LENGTH = 200

UNAVAILABLE_REASONS = {
    "offline": EndReason.OFFLINE,
    "logged_out": EndReason.LOGGED_OUT,
    "away": EndReason.AWAY,
    "busy": EndReason.BUSY,
    "at_capacity": EndReason.AT_CAPACITY,
}


# --- helpers (callers hold the transfer lock) ---------------------------------------------------


def _move(transfer: Transfer, to_state: str, **fields) -> None:
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


def _schedule_expiry(transfer: Transfer) -> None:
    from .tasks import expire_transfer as expire_task

    transfer_id, eta = transfer.pk, transfer.expires_at

    def send():
        expire_task.apply_async((transfer_id,), eta=eta)

    transaction.on_commit(send, robust=True)


def hand_over_timeout() -> timedelta:
    """How long the initiator has to click Transfer Now once the target accepted (a setting)."""
    return timedelta(seconds=max(1, int(settings.TRANSFER_HAND_OVER_TIMEOUT_SECONDS)))


def _schedule_hand_over_expiry(transfer: Transfer) -> None:
    from .tasks import expire_hand_over as expire_task

    transfer_id, eta = transfer.pk, transfer.hand_over_by

    def send():
        expire_task.apply_async((transfer_id,), eta=eta)

    transaction.on_commit(send, robust=True)


def _offer_to(transfer: Transfer, operator: Operator) -> TransferOffer:
    now = timezone.now()
    expires_at = now + timedelta(seconds=transfer.accept_timeout_seconds)
    offer = TransferOffer.objects.create(transfer=transfer, operator=operator, offered_at=now, expires_at=expires_at)
    Transfer.objects.filter(pk=transfer.pk).update(offered_to=operator, expires_at=expires_at)
    transfer.offered_to = operator
    transfer.expires_at = expires_at
    events.transfer_offered(transfer)
    _schedule_expiry(transfer)
    return offer


def _close_pending_offer(transfer: Transfer, *, outcome: str, reason: str = "", reason_text: str = "") -> None:
    """End the offer the transfer is waiting on (if any) and close the prompt on that operator's console."""
    if transfer.offered_to_id is None:
        return
    TransferOffer.objects.filter(transfer=transfer, outcome=TransferOffer.Outcome.PENDING).update(
        outcome=outcome, reason=reason, reason_text=reason_text, answered_at=timezone.now()
    )
    events.offer_ended(transfer, operator_id=transfer.offered_to_id, outcome=outcome, reason=reason)


def _queue_changed(transfer: Transfer) -> None:
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


def _offer_to_next_in_queue(transfer: Transfer, *, fresh: bool = False) -> TransferOffer | None:
    """Offer a queue transfer to the next operator of the queue (see `_pick_next_in_queue`).

    Nobody free: the transfer waits in the queue (no offer, no deadline) until the sweep finds
    someone. Everyone serving the queue declined: the transfer ends as declined (`all_declined`),
    so the initiator gets the popup with Back instead of waiting forever. `fresh`: just requested.
    """
    was_waiting = not fresh and transfer.offered_to_id is None
    availability = _pick_next_in_queue(transfer)
    offer = None
    if availability is not None:
        offer = _offer_to(transfer, availability.operator)
    else:
        Transfer.objects.filter(pk=transfer.pk).update(offered_to=None, expires_at=None)
        transfer.offered_to = None
        transfer.expires_at = None
        if _everyone_declined(transfer):
            _move(
                transfer,
                TransferState.DECLINED,
                end_reason=EndReason.ALL_DECLINED,
                reason_text="",
                answered_at=timezone.now(),
            )
    if was_waiting != (transfer.state == TransferState.REQUESTED and transfer.offered_to_id is None):
        _queue_changed(transfer)
    return offer


def _end_offer_and_move_on(transfer: Transfer, *, outcome: str, reason: str, reason_text: str = "") -> None:
    """An offer ended without acceptance: a queue transfer tries the next operator (or ends when everyone
    declined), an operator transfer stops."""
    _close_pending_offer(transfer, outcome=outcome, reason=reason, reason_text=reason_text)
    now = timezone.now()
    if transfer.is_queue_transfer:
        _offer_to_next_in_queue(transfer)
    else:
        to_state = {
            TransferOffer.Outcome.DECLINED: TransferState.DECLINED,
            TransferOffer.Outcome.EXPIRED: TransferState.EXPIRED,
        }.get(outcome, TransferState.CANCELLED)
        fields = {"end_reason": reason, "reason_text": reason_text}
        if to_state == TransferState.DECLINED:
            fields["answered_at"] = now
        _move(transfer, to_state, **fields)
    events.transfer_updated(transfer)


def _cancel(transfer: Transfer, *, reason: str) -> None:
    """Stop an open transfer; a pending offer is withdrawn and an accepted target is told."""
    if transfer.state == TransferState.REQUESTED:
        if transfer.is_queue_transfer and transfer.offered_to_id is None:
            _queue_changed(transfer)  # it leaves the queue it waited in
        _close_pending_offer(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=reason)
    elif transfer.state == TransferState.ACCEPTED and transfer.accepted_by_id:
        events.offer_ended(
            transfer, operator_id=transfer.accepted_by_id, outcome=TransferOffer.Outcome.WITHDRAWN, reason=reason
        )
    _move(transfer, TransferState.CANCELLED, end_reason=reason)
    events.transfer_updated(transfer)


def _why_unavailable(availability: Availability | None) -> str:
    if availability is None or availability.status == Availability.Status.OFFLINE:
        return "is offline"
    if availability.status != Availability.Status.AVAILABLE:
        return f"is {availability.get_status_display().lower()}"
    return "has reached their capacity"


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


# --- acts ------------------------------------------------------------------------------------------


def request_transfer(
    *,
    engagement_id: int,
    initiator: Operator,
    target_operator_id: int | None = None,
    target_queue_id: int | None = None,
    warm_message: str = "",
) -> Transfer:
    """The owner asks another operator (or a queue) to take the engagement.

    Rules: only the owner of an active engagement; one open transfer per engagement (database
    constraint); an operator target must be able to take it now (available, under capacity) and
    is not yourself; a queue target takes the engagement's media. The warm message is saved as a
    transfer note first, and kept even if the request or the transfer fails.
    """
    if (target_operator_id is None) == (target_queue_id is None):
        raise TransferError(TransferErrorCode.NO_TARGET)
    if target_operator_id is not None and target_operator_id == initiator.pk:
        raise TransferError(TransferErrorCode.SELF_TARGET)
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
                    f"{target_operator.display_name} {_why_unavailable(availability)} and cannot take a chat now.",
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
                    accept_timeout_seconds=timeout,
                    requested_at=timezone.now(),
                )
        except IntegrityError:
            raise TransferError(TransferErrorCode.ALREADY_OPEN) from None
        transfer.engagement = engagement
        if target_operator is not None:
            _offer_to(transfer, target_operator)
        else:
            _offer_to_next_in_queue(transfer, fresh=True)
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
            _end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=EndReason.AT_CAPACITY)
            refusal = TransferError(TransferErrorCode.AT_CAPACITY)
        else:
            TransferOffer.objects.filter(transfer=transfer, outcome=TransferOffer.Outcome.PENDING).update(
                outcome=TransferOffer.Outcome.ACCEPTED, answered_at=now
            )
            _move(
                transfer,
                TransferState.ACCEPTED,
                accepted_by=operator,
                answered_at=now,
                hand_over_by=now + hand_over_timeout(),
            )
            events.offer_ended(transfer, operator_id=operator.pk, outcome=TransferOffer.Outcome.ACCEPTED)
            events.transfer_updated(transfer)
            _schedule_hand_over_expiry(transfer)
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
        _end_offer_and_move_on(
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
        _cancel(transfer, reason=EndReason.CANCELLED_BY_INITIATOR)
    return transfer


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
        _end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.EXPIRED, reason=EndReason.NOT_ANSWERED)
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
        _cancel(transfer, reason=EndReason.NOT_HANDED_OVER)
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
        expired = list(
            Transfer.objects.filter(pk__in=ids).select_related(
                "engagement__visitor", "initiator", "target_operator", "target_queue", "offered_to", "note"
            )
        )
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
        if _offer_to_next_in_queue(transfer) is None and transfer.state == TransferState.REQUESTED:
            return None
        events.transfer_updated(transfer)
    return transfer


def _hand_over_now(transfer: Transfer, engagement: Engagement) -> TransferError | None:
    """Move the engagement to the operator who accepted (caller holds engagement and transfer locks).

    Returns the refusal to raise once the transaction commits (the target filled up), or None.
    """
    new_owner = transfer.accepted_by
    try:
        with transaction.atomic():
            hand_over(engagement_id=engagement.pk, to_operator_id=new_owner.pk)
    except ChatError as error:
        if error.code != "at_capacity":
            raise TransferError(TransferErrorCode.NO_LONGER_OPEN, error.message) from None
        _cancel(transfer, reason=EndReason.AT_CAPACITY)
        return TransferError(TransferErrorCode.AT_CAPACITY, f"{new_owner.display_name} has reached their capacity.")
    now = timezone.now()
    _move(transfer, TransferState.COMPLETED, completed_at=now, ended_at=now)
    post_system_message(engagement=engagement, body=f"You are now chatting with {new_owner.display_name}.")
    events.transfer_updated(transfer)
    return None


def transfer_now(*, transfer_id: int, operator: Operator) -> Transfer:
    """The initiator hands an accepted transfer over: ownership moves atomically. Twice is one hand-off.

    Only the initiator, only once accepted and before `hand_over_by` (past it, the transfer is
    cancelled as `not_handed_over`, as the timer would). If the target has no room left, the
    transfer stops with "at capacity" and the initiator keeps the engagement.
    """
    engagement_id = Transfer.objects.filter(pk=transfer_id).values_list("engagement_id", flat=True).first()
    if engagement_id is None:
        raise TransferError(TransferErrorCode.INVALID, "That transfer does not exist.")
    refusal: TransferError | None = None
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        transfer = lock_transfer(transfer_id)
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
            _cancel(transfer, reason=EndReason.NOT_HANDED_OVER)
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


# --- reactions to the core's signals ---------------------------------------------------------------


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
                _end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=end_reason)
            elif transfer.state == TransferState.ACCEPTED and transfer.accepted_by_id == operator_id:
                _cancel(transfer, reason=end_reason)
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
        _end_offer_and_move_on(transfer, outcome=TransferOffer.Outcome.WITHDRAWN, reason=EndReason.AT_CAPACITY)
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
        _cancel(lock_transfer(transfer.pk), reason=end_reason)
    return len(transfers)


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
