"""The acts of the phone console, the caller and the provider: one function each.

Every act locks the engagement, then the call, then its legs (`steps.lock_call`), checks the
rule it enforces against the locked rows, writes, and leaves the network side (the provider)
and the frames (events) to run once the transaction commits.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction

from helpdesk.errors import ChatError, NotAllowed
from helpdesk.lock_objects import lock_availability, lock_engagement
from helpdesk.models import Availability, DispositionCode, Engagement, Media, Operator, Queue
from helpdesk.services.engagements import start_engagement
from helpdesk.services.hours import queue_taking_contacts
from helpdesk.services.routing import pick_free_availability
from helpdesk.services.wrapup import clean_code

from .. import events
from ..errors import CallError
from ..models import Call, Leg
from .provider_requests import _dial_later, _provider_later
from .steps import (
    _connect_outside,
    _consult_over,
    _count_act,
    _create_call,
    _dial_target,
    _end_call,
    _end_leg,
    _end_outside,
    _move_leg,
    _pass_to_target,
    _require_open,
    _require_owner,
    _require_party,
    _reserve_operator,
    _ring_new_leg,
    _ring_out,
    _set_mode,
    lock_call,
    lock_call_of_leg,
)


def validate_phone_number(number: object) -> str:
    """An outside number in E.164 (+ and country code), valid for its country; returned normalised."""
    if not isinstance(number, str) or not number.strip():
        raise CallError("invalid_number", "Type a phone number.")
    number = number.strip()
    if not number.startswith("+"):
        raise CallError("invalid_number", "Type the number with + and the country code, e.g. +44 20 7946 0958.")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise CallError("invalid_number", "That is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise CallError("invalid_number", "That phone number does not exist.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def place_call(*, queue: Queue, caller_name: str = "", phone_number: str = "") -> Call:
    """A caller dials into a voice queue: the engagement waits there and routing rings an operator.

    Outside the queue's business hours the queue's closed action applies: the call joins its
    "other queue" (when that one is open), or it is refused with CallError `closed`, whose message
    (the manager's closed message, or when the queue opens next) the caller is told.
    """
    if queue.media != Media.VOICE:
        raise CallError("wrong_media", "That queue does not take calls.")
    if phone_number:
        phone_number = validate_phone_number(phone_number)
    with transaction.atomic():
        try:
            queue = queue_taking_contacts(queue=queue)
            engagement = start_engagement(queue=queue, visitor_name=caller_name, phone_number=phone_number)
        except ChatError as error:
            raise CallError(error.code, error.message) from None
        call = _create_call(engagement)
    return call


def offer_routed_call(*, engagement_id: int, operator_id: int) -> Leg:
    """Routing gave a waiting call to an operator: their leg rings (called from the Ownership signal).

    The operator already owns the engagement (routing took their capacity); answering connects
    them to the caller, declining or not answering sends the call back to its queue.
    """
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if not Call.objects.filter(engagement=engagement).exists():
            _create_call(engagement)
        locked = lock_call(engagement.call.pk)
        seconds = engagement.queue.accept_timeout_seconds
        leg = _ring_new_leg(locked.call, kind=Leg.Kind.OPERATOR, seconds=seconds, operator_id=operator_id)
        _dial_later(leg, to=_dial_target(leg), ring_timeout=seconds)
        events.call_changed(locked.call.pk)
    return leg


def answer_leg(*, leg_id: int, operator: Operator | None = None) -> Call:
    """The party of a ringing leg answers. Operators answer their own legs; outside numbers
    (operator=None) answer through the provider.

    An owner leg connects the customer (off hold, if they were held); a consult leg starts the
    consult while the customer stays on hold.
    """
    with transaction.atomic():
        locked, leg = lock_call_of_leg(leg_id)
        _require_open(locked)
        _require_party(leg, operator)
        if leg.state != Leg.State.RINGING:
            raise CallError("not_ringing", "This call is no longer ringing.")
        handing_out = locked.handing_out
        _move_leg(leg, Leg.State.CONNECTED)
        if handing_out and leg.kind == Leg.Kind.PHONE:
            _connect_outside(locked, leg)  # the owner already left: the number gets the customer
        elif leg.kind == Leg.Kind.OPERATOR:
            customer = locked.customer
            if customer.state in (Leg.State.RINGING, Leg.State.HELD):
                was_held = customer.state == Leg.State.HELD
                _move_leg(customer, Leg.State.CONNECTED)
                if was_held:
                    _provider_later("unhold", customer)
            _set_mode(locked.call, Call.Mode.NORMAL)
        events.call_changed(locked.call.pk)
    return locked.call


def decline_leg(*, leg_id: int, operator: Operator) -> Call:
    """The operator a leg rings for declines it. A consult just ends (the initiator is told);
    an offered call goes back to its queue and the operator is set Away on voice."""
    with transaction.atomic():
        locked, leg = lock_call_of_leg(leg_id)
        _require_open(locked)
        _require_party(leg, operator)
        if leg.state != Leg.State.RINGING:
            raise CallError("not_ringing", "This call is no longer ringing.")
        _ring_out(locked, leg, reason=Leg.EndReason.DECLINED, away=True)
        events.call_changed(locked.call.pk)
    return locked.call


def put_on_hold(*, call_id: int, operator: Operator) -> Call:
    """The owner puts the connected customer on hold (not in a conference, not during a consult)."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if locked.call.mode == Call.Mode.CONFERENCE:
            raise CallError("in_conference", "You cannot hold the customer in a conference.")
        customer = locked.customer
        if customer.state != Leg.State.CONNECTED:
            raise CallError("already_on_hold", "The customer is already on hold.")
        _move_leg(customer, Leg.State.HELD)
        _provider_later("hold", customer)
        events.call_changed(call_id)
    return locked.call


def take_off_hold(*, call_id: int, operator: Operator) -> Call:
    """The owner takes the customer off hold; during a consult they hang up or conference first."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if locked.call.mode == Call.Mode.CONSULT:
            raise CallError("consult_open", "Hang up the consult or start the conference first.")
        customer = locked.customer
        if customer.state != Leg.State.HELD:
            raise CallError("not_on_hold", "The customer is not on hold.")
        _move_leg(customer, Leg.State.CONNECTED)
        _provider_later("unhold", customer)
        events.call_changed(call_id)
    return locked.call


def start_consult(
    *,
    call_id: int,
    operator: Operator,
    queue_id: int | None = None,
    operator_id: int | None = None,
    phone_number: str | None = None,
    reason_id: object = None,
) -> Leg:
    """Transfer/Conf → Call: the customer goes on hold and a consult leg rings the target.

    The target is a skill (its first free voice operator, longest idle; refused with
    `no_agent` before anything rings if there is none), an operator (available on voice), or
    an outside number in E.164. Only the owner, with no consult already open, may start one.
    `reason_id`: a transfer reason of the call's queue (required where the queue says so),
    checked before anything is held or rung (CodeError).
    """
    targets = [t for t in (queue_id, operator_id, phone_number) if t not in (None, "")]
    if len(targets) != 1:
        raise CallError("no_target", "Pick one skill, operator or phone number to call.")
    if phone_number:
        phone_number = validate_phone_number(phone_number)
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if locked.call.mode == Call.Mode.CONSULT:
            raise CallError("consult_open", "A consult is already open on this call.")
        if locked.call.mode == Call.Mode.CONFERENCE:
            raise CallError("in_conference", "Transfer or end the conference first.")
        call_queue = Queue.objects.get(pk=locked.engagement.queue_id)
        reason = clean_code(
            queue=call_queue,
            kind=DispositionCode.Kind.TRANSFER,
            value=reason_id,
            required=call_queue.transfer_reason_required,
        )
        seconds = settings.CONSULT_RING_TIMEOUT_SECONDS
        if phone_number:
            fields = {"kind": Leg.Kind.PHONE, "phone_number": phone_number}
        else:
            if operator_id is not None:
                if int(operator_id) == operator.pk:
                    raise CallError("self", "You cannot call yourself.")
                try:
                    availability = lock_availability(operator_id=int(operator_id), media=Media.VOICE)
                except Availability.DoesNotExist:
                    raise CallError("target_unavailable", "That operator cannot take calls.") from None
                queue = None
            else:
                queue = Queue.objects.filter(pk=queue_id, media=Media.VOICE).first()
                if queue is None:
                    raise CallError("not_found", "There is no such voice skill.")
                availability = pick_free_availability(queue=queue, exclude_operator_ids=(operator.pk,))
                if availability is None:
                    raise CallError("no_agent", f"Nobody in {queue.name} is available to take a call right now.")
            _reserve_operator(availability)
            fields = {"kind": Leg.Kind.CONSULT, "operator_id": availability.operator_id, "queue": queue}
        customer = locked.customer
        if customer.state == Leg.State.CONNECTED:
            _move_leg(customer, Leg.State.HELD)
            _provider_later("hold", customer)
        _set_mode(locked.call, Call.Mode.CONSULT, initiator=operator)
        try:
            with transaction.atomic():
                leg = _ring_new_leg(locked.call, seconds=seconds, reason=reason, **fields)
        except IntegrityError:
            raise CallError("consult_open", "A consult is already open on this call.") from None
        _dial_later(leg, to=_dial_target(leg), ring_timeout=seconds)
        events.call_changed(call_id)
    return leg


def hang_up_consult(*, call_id: int, operator: Operator) -> Call:
    """The owner hangs up the bottom (consult) leg: ringing → cancelled, answered → hung up.
    They are back with the customer, who stays on hold until taken off hold (in a conference
    the customer simply stays connected)."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        consult = locked.consult_leg
        if consult is None:
            raise CallError("no_consult", "There is no consult to hang up.")
        reason = Leg.EndReason.CANCELLED if consult.state == Leg.State.RINGING else Leg.EndReason.HUNG_UP
        _consult_over(locked, consult, reason=reason)
        events.call_changed(call_id)
    return locked.call


def cold_transfer(*, call_id: int, operator: Operator) -> Call:
    """Transfer from a consult (discouraged): the customer goes to the target and the owner
    leaves. Refused where the call's queue has cold transfer switched off. To an outside number
    still ringing, the customer stays on hold for it (see `_pass_to_target`)."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if not locked.engagement.queue.cold_transfer_allowed:
            raise CallError("cold_transfer_disabled", "Cold transfer is switched off for this queue. Use Conference.")
        if locked.call.mode != Call.Mode.CONSULT or locked.consult_leg is None:
            raise CallError("no_consult", "Call the target first.")
        _pass_to_target(locked, owner_reason=Leg.EndReason.TRANSFERRED)
        _count_act(locked.call, "cold_transfers")
        events.call_changed(call_id)
    return locked.call


def conference(*, call_id: int, operator: Operator) -> Call:
    """Consulting → Conference: the customer comes off hold and all three talk."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        consult = locked.consult_leg
        if locked.call.mode != Call.Mode.CONSULT or consult is None:
            raise CallError("no_consult", "Call the target first.")
        if consult.state != Leg.State.CONNECTED:
            raise CallError("not_answered", "Wait until the target answers.")
        customer = locked.customer
        if customer.state == Leg.State.HELD:
            _move_leg(customer, Leg.State.CONNECTED)
            _provider_later("unhold", customer)
        _set_mode(locked.call, Call.Mode.CONFERENCE, initiator=operator)
        _count_act(locked.call, "conferences")
        events.call_changed(call_id)
    return locked.call


def release_call(*, call_id: int, operator: Operator) -> Call:
    """Transfer (release) from the conference: the initiator leaves; the target owns the call
    and may transfer it again. Until this, the target cannot transfer."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if locked.call.mode != Call.Mode.CONFERENCE:
            raise CallError("not_in_conference", "Start the conference first.")
        _pass_to_target(locked, owner_reason=Leg.EndReason.TRANSFERRED)
        events.call_changed(call_id)
    return locked.call


def end_conference(*, call_id: int, operator: Operator) -> Call:
    """End Conference: every leg hangs up, the customer's too, and the call ends."""
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_owner(locked, operator)
        if locked.call.mode != Call.Mode.CONFERENCE:
            raise CallError("not_in_conference", "There is no conference to end.")
        _end_call(locked, reason=Engagement.EndReason.CALL_ENDED)
        events.call_changed(call_id)
    return locked.call


def hang_up(*, leg_id: int, operator: Operator | None = None) -> Call:
    """The party of a leg hangs up. What follows depends on who:

    - the customer: every leg ends and the call ends;
    - the owner alone with the customer: the call ends;
    - the owner during a consult or conference: the target takes the call (an answered target
      gets the customer now, a ringing one when they answer; a ringing outside number keeps the
      customer on hold until it answers, or the customer is queued again if it does not);
    - after the call went to an outside number (`outside` mode): the customer or the number
      hanging up ends both legs and the provider's call;
    - a consult target or outside number: the consult ends, the owner is back with the customer;
    - a ringing leg's own party hanging up declines it;
    - a supervisor's leg (reported by the provider): only that leg ends.
    """
    with transaction.atomic():
        locked, leg = lock_call_of_leg(leg_id)
        if locked.call.mode == Call.Mode.OUTSIDE:
            # Handed to an outside number: only the customer and the number are left on the call.
            if operator is not None or leg.kind not in (Leg.Kind.CUSTOMER, Leg.Kind.PHONE):
                raise NotAllowed("not_your_leg", "This is not your call leg.")
            if not leg.is_open:
                raise CallError("ended", "This call has ended.")
            _end_outside(locked)
            events.call_changed(locked.call.pk)
            return locked.call
        _require_open(locked)
        if leg.kind == Leg.Kind.CUSTOMER:
            if operator is not None:
                raise NotAllowed("not_your_leg", "This is not your call leg.")
            leg_reason = Leg.EndReason.HUNG_UP
            _end_leg(leg, leg_reason)
            _end_call(locked, reason=Engagement.EndReason.CALLER_HUNG_UP)
        else:
            _require_party(leg, operator)
            if not leg.is_open:
                raise CallError("ended", "You already left this call.")
            if leg.kind == Leg.Kind.SUPERVISOR:
                _end_leg(leg, Leg.EndReason.HUNG_UP)  # a supervisor's line dropped: nobody else notices
            elif leg.state == Leg.State.RINGING:
                _ring_out(locked, leg, reason=Leg.EndReason.DECLINED, away=operator is not None)
            elif leg.kind == Leg.Kind.OPERATOR:
                if locked.call.mode == Call.Mode.NORMAL:
                    _end_leg(leg, Leg.EndReason.HUNG_UP)
                    _end_call(locked, reason=Engagement.EndReason.OPERATOR_ENDED)
                else:
                    _pass_to_target(locked, owner_reason=Leg.EndReason.HUNG_UP)
            else:
                _consult_over(locked, leg, reason=Leg.EndReason.HUNG_UP)
        events.call_changed(locked.call.pk)
    return locked.call
