"""Call control: one function per act of the phone console, the caller and the provider.

Every act locks the engagement, then the call, then its legs (in that order, always), checks
the rule it enforces against the locked rows, writes, and leaves the network side (provider)
and the frames (events) to run once the transaction commits.

The owner of a call is the owner of its engagement; their connection is the `operator` leg.
A consult adds one `consult` (operator) or `phone` (outside number) leg. Passing the call to
the consult target (cold transfer, release from a conference, or the initiator hanging up
during a consult) turns the target's consult leg into the owner leg and hands the engagement
over. While a consult target rings or talks, their voice capacity is reserved (load + 1) so
routing does not give them another call meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.errors import ChatError, NotAllowed
from helpdesk.events import queues_changed
from helpdesk.lock_objects import lock_availability, lock_engagement
from helpdesk.models import Availability, Engagement, Media, Operator, Ownership, Queue
from helpdesk.services.engagements import end_engagement, hand_over, start_engagement
from helpdesk.services.presence import set_availability
from helpdesk.services.routing import pick_free_availability, release_ownership, schedule_routing

from . import events
from .errors import CallError
from .models import Call, Leg, ProviderEvent
from .providers import DialRequest, LegRef, ProviderEventData, get_provider

logger = logging.getLogger(__name__)

# --- locked view of a call ------------------------------------------------------------------


@dataclass
class LockedCall:
    """A call with its engagement and legs, all locked FOR UPDATE in the current transaction."""

    call: Call
    engagement: Engagement
    legs: list[Leg]

    def _open(self, *kinds: str) -> Leg | None:
        return next((leg for leg in self.legs if leg.kind in kinds and leg.is_open), None)

    @property
    def customer(self) -> Leg:
        return next(leg for leg in self.legs if leg.kind == Leg.Kind.CUSTOMER)

    @property
    def owner_leg(self) -> Leg | None:
        return self._open(Leg.Kind.OPERATOR)

    @property
    def consult_leg(self) -> Leg | None:
        return self._open(Leg.Kind.CONSULT, Leg.Kind.PHONE)

    def leg(self, leg_id: int) -> Leg:
        return next(leg for leg in self.legs if leg.pk == leg_id)

    @property
    def handing_out(self) -> bool:
        """The owner left while an outside number still rings: the customer waits on hold for it
        (the owner keeps the engagement, not the line, until the number answers or fails)."""
        consult = self.consult_leg
        return (
            self.call.mode == Call.Mode.CONSULT
            and self.owner_leg is None
            and consult is not None
            and consult.kind == Leg.Kind.PHONE
            and consult.state == Leg.State.RINGING
        )


def lock_call(call_id: int) -> LockedCall:
    """Lock engagement, call and legs in that order. Call inside transaction.atomic()."""
    try:
        engagement_id = Call.objects.values_list("engagement_id", flat=True).get(pk=call_id)
    except Call.DoesNotExist:
        raise CallError("not_found", "There is no such call.") from None
    engagement = lock_engagement(engagement_id)
    call = Call.objects.select_for_update().get(pk=call_id)
    call.engagement = engagement
    legs = list(
        Leg.objects.select_for_update(of=("self",)).filter(call_id=call_id).select_related("operator").order_by("pk")
    )
    for leg in legs:
        leg.call = call
    return LockedCall(call=call, engagement=engagement, legs=legs)


def lock_call_of_leg(leg_id: int) -> tuple[LockedCall, Leg]:
    try:
        call_id = Leg.objects.values_list("call_id", flat=True).get(pk=leg_id)
    except Leg.DoesNotExist:
        raise CallError("not_found", "There is no such call leg.") from None
    locked = lock_call(call_id)
    return locked, locked.leg(leg_id)


# --- small writers ----------------------------------------------------------------------------


def _move(leg: Leg, state: str, *, reason: str = "") -> None:
    """Move a locked leg to `state`, stamping the time; the table in Leg.TRANSITIONS decides."""
    if state == leg.state:
        return
    if state not in Leg.TRANSITIONS[leg.state]:
        raise CallError("wrong_leg", f"A {leg.get_state_display().lower()} leg cannot become {state}.")
    now = timezone.now()
    changes: dict = {"state": state}
    stamp = {
        Leg.State.RINGING: "ringing_at",
        Leg.State.CONNECTED: "connected_at",
        Leg.State.HELD: "held_at",
        Leg.State.ENDED: "ended_at",
    }[state]
    if state != Leg.State.CONNECTED or leg.connected_at is None:
        changes[stamp] = now
    if state == Leg.State.ENDED:
        changes["end_reason"] = reason or Leg.EndReason.HUNG_UP
    if state != Leg.State.RINGING:
        changes["ring_deadline"] = None
    updated = Leg.objects.filter(pk=leg.pk, state=leg.state).update(**changes)
    if not updated:  # cannot happen under the lock; kept as the compare-and-set guard
        raise CallError("stale", "The call changed meanwhile; try again.")
    for name, value in changes.items():
        setattr(leg, name, value)


def _end_leg(leg: Leg, reason: str) -> None:
    """End an open leg; a ringing one that nobody answered ends as `cancelled` unless told why."""
    if not leg.is_open:
        return
    _move(leg, Leg.State.ENDED, reason=reason)
    if leg.kind == Leg.Kind.CONSULT:
        _free_operator(leg.operator_id)
    _provider_later("hang_up", leg)


def _count(call: Call, counter: str) -> None:
    """Add one to a per-call act counter (`conferences`, `cold_transfers`) of a locked call.

    An F() update, so the row is incremented in the database whatever the instance holds; it
    runs inside the act's transaction, so a refused or failed act counts nothing."""
    Call.objects.filter(pk=call.pk).update(**{counter: F(counter) + 1})
    setattr(call, counter, getattr(call, counter) + 1)


def _set_mode(call: Call, mode: str, initiator: Operator | None = None) -> None:
    call.mode = mode
    call.initiator = initiator if mode != Call.Mode.NORMAL else None
    call.save(update_fields=["mode", "initiator"])


def _reserve_operator(availability: Availability) -> None:
    """Count a ringing or talking consult target as busy on voice (locked availability)."""
    if not availability.has_room:
        raise CallError(
            "target_unavailable", f"{availability.operator.display_name} is not available for calls right now."
        )
    Availability.objects.filter(pk=availability.pk).update(load=F("load") + 1)


def _free_operator(operator_id: int, *, route: bool = True) -> None:
    availability = lock_availability(operator_id=operator_id, media=Media.VOICE)
    availability.load = max(availability.load - 1, 0)
    if availability.load == 0:
        availability.idle_since = timezone.now()
    availability.save(update_fields=["load", "idle_since"])
    if route and availability.status == Availability.Status.AVAILABLE:
        from helpdesk.services.routing import schedule_routing_for_operator

        schedule_routing_for_operator(operator_id=operator_id, media=Media.VOICE)


def _leg_ref(leg: Leg) -> LegRef:
    provider = get_provider()
    return LegRef(
        call_id=leg.call_id,
        leg_id=leg.pk,
        kind=leg.kind,
        conference=provider.conference_name(leg.call_id),
        provider_leg_id=leg.provider_leg_id,
        provider_call_id=leg.call.provider_call_id,
    )


def _provider_later(act: str, leg: Leg) -> None:
    """Ask the provider to `act` on the leg once the change is committed (the database leads)."""
    ref = _leg_ref(leg)

    def run():
        try:
            getattr(get_provider(), act)(ref)
        except Exception:  # the sweep and the provider's own events reconcile a failed request
            logger.exception("Provider %s failed for leg %s", act, ref.leg_id)

    transaction.on_commit(run)


def _dial_later(leg: Leg, *, to: str, ring_timeout: int) -> None:
    provider = get_provider()
    request = DialRequest(
        call_id=leg.call_id,
        leg_id=leg.pk,
        kind=leg.kind,
        conference=provider.conference_name(leg.call_id),
        to=to,
        ring_timeout_seconds=ring_timeout,
    )

    def run():
        try:
            result = get_provider().dial(request)
        except Exception:
            logger.exception("Provider could not dial leg %s", request.leg_id)
            return
        Leg.objects.filter(pk=request.leg_id).update(provider_leg_id=result.provider_leg_id)

    transaction.on_commit(run)


def _schedule_ring_timeout(leg: Leg, seconds: int) -> None:
    def run():
        from .tasks import ring_timeout

        try:
            ring_timeout.apply_async((leg.pk,), countdown=seconds)
        except Exception:  # the beat sweep expires it anyway
            logger.exception("Could not schedule the ring timeout of leg %s", leg.pk)

    transaction.on_commit(run)


def _ring(call: Call, *, kind: str, seconds: int, **fields) -> Leg:
    now = timezone.now()
    leg = Leg.objects.create(
        call=call,
        kind=kind,
        state=Leg.State.RINGING,
        ringing_at=now,
        ring_deadline=now + timedelta(seconds=seconds),
        **fields,
    )
    leg.call = call
    _schedule_ring_timeout(leg, seconds)
    return leg


def _dial_target(leg: Leg) -> str:
    return leg.phone_number if leg.kind == Leg.Kind.PHONE else f"client:operator-{leg.operator_id}"


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


# --- rules shared by the acts -------------------------------------------------------------


def _require_open(locked: LockedCall) -> None:
    if locked.engagement.state == Engagement.State.ENDED:
        raise CallError("ended", "This call has ended.")


def _require_owner(locked: LockedCall, operator: Operator) -> Leg:
    """The acting operator owns the call and is connected on it; return their leg."""
    _require_open(locked)
    owner_leg = locked.owner_leg
    if locked.engagement.owner_id != operator.pk or owner_leg is None or owner_leg.operator_id != operator.pk:
        consult = locked.consult_leg
        if consult is not None and consult.operator_id == operator.pk:
            raise CallError(
                "initiator_in_conference",
                f"{locked.call.initiator or 'The initiator'} is still on the call; they must transfer it to you first.",
            )
        raise NotAllowed("not_owner", "You do not own this call.")
    if owner_leg.state != Leg.State.CONNECTED:
        raise CallError("not_answered", "Answer the call first.")
    return owner_leg


def _requeue(locked: LockedCall, *, away_operator: Operator | None = None) -> None:
    """Nobody took the call: the customer waits in the call's queue again (and is routed)."""
    engagement = locked.engagement
    for leg in locked.legs:
        if leg.kind != Leg.Kind.CUSTOMER:
            _end_leg(leg, Leg.EndReason.CANCELLED)
    customer = locked.customer
    if customer.state == Leg.State.CONNECTED:
        _move(customer, Leg.State.HELD)  # a connected customer goes through hold back to waiting
    if customer.state == Leg.State.HELD:
        _move(customer, Leg.State.RINGING)
    _set_mode(locked.call, Call.Mode.NORMAL)
    if engagement.state == Engagement.State.ACTIVE:
        release_ownership(engagement=engagement, because=Ownership.End.REQUEUED)
        engagement.owner = None
        engagement.state = Engagement.State.QUEUED
        engagement.queued_at = timezone.now()
        engagement.save(update_fields=["owner", "state", "queued_at"])
    queues_changed(engagement.site_id)
    schedule_routing(engagement_id=engagement.pk)
    if away_operator is not None:
        set_availability(
            operator=away_operator, media=Media.VOICE, status=Availability.Status.AWAY, reason="missed_call"
        )


def _end_call(
    locked: LockedCall, *, reason: str, leg_reason: str = Leg.EndReason.HUNG_UP, keep: tuple[Leg, ...] = ()
) -> None:
    """The engagement ends and every leg hangs up, and the provider is asked to end the call.

    With `keep` (the customer and an outside number that now has them), only the other legs
    hang up, one by one, and the provider's call (the conference) is *not* ended: the helpdesk's
    part is over but those two still talk. The call must already be in `outside` mode then, so
    that the ended engagement does not close the kept legs (`end_open_legs`)."""
    kept = {leg.pk for leg in keep}
    for leg in locked.legs:
        if leg.pk not in kept:
            _end_leg(leg, Leg.EndReason.CANCELLED if leg.state == Leg.State.RINGING else leg_reason)
    end_engagement(engagement_id=locked.engagement.pk, reason=reason)
    locked.engagement.refresh_from_db()
    if not kept:
        _end_provider_call_later(locked)


def _end_provider_call_later(locked: LockedCall) -> None:
    """Once committed, ask the provider to end the whole call (every participant hangs up)."""
    provider = get_provider()
    conference = provider.conference_name(locked.call.pk)
    provider_call_id = locked.call.provider_call_id

    def run():
        try:
            get_provider().end_call(conference=conference, provider_call_id=provider_call_id)
        except Exception:
            logger.exception("Provider could not end call %s", locked.call.pk)

    transaction.on_commit(run)


def _consult_over(locked: LockedCall, consult: Leg, *, reason: str) -> None:
    """The consult leg ends: the owner is back with the customer (still on hold after a consult)."""
    _end_leg(consult, reason)
    _set_mode(locked.call, Call.Mode.NORMAL)


def _pass_to_target(locked: LockedCall, *, owner_reason: str) -> None:
    """The owner leaves and the consult target takes the call (cold transfer, release, hang-up).

    An answered target gets the customer now (off hold); a ringing one owns the call and gets
    the customer when they answer. An outside number takes the caller out of the helpdesk, but
    never before it answered: an answered number gets the customer now (`_connect_outside`); while
    it still rings, the customer waits on hold for it and meets it when it answers, or goes back
    to the call's queue if it does not (`answer_leg`, `_ring_out`).
    """
    consult = locked.consult_leg
    owner_leg = locked.owner_leg
    if owner_leg is not None:
        _end_leg(owner_leg, owner_reason)
    customer = locked.customer
    if consult.kind == Leg.Kind.PHONE:
        if consult.state == Leg.State.CONNECTED:
            _connect_outside(locked, consult)
        # else: still ringing. The call stays in consult mode with its initiator and without an
        # owner leg (`LockedCall.handing_out`); the owner keeps the engagement until then.
        return
    _free_operator(consult.operator_id, route=False)
    try:
        hand_over(engagement_id=locked.engagement.pk, to_operator_id=consult.operator_id)
    except ChatError as error:
        raise CallError(error.code, error.message) from None
    locked.engagement.refresh_from_db()
    Leg.objects.filter(pk=consult.pk).update(kind=Leg.Kind.OPERATOR)
    consult.kind = Leg.Kind.OPERATOR
    _set_mode(locked.call, Call.Mode.NORMAL)
    if consult.state == Leg.State.CONNECTED and customer.state == Leg.State.HELD:
        _move(customer, Leg.State.CONNECTED)
        _provider_later("unhold", customer)


def _ring_out(locked: LockedCall, leg: Leg, *, reason: str, away: bool) -> None:
    """A ringing leg stops ringing without an answer (declined, no answer, withdrawn).

    A consult leg just ends (back to the customer); an owner leg sends the call back to its
    queue, and with `away` the operator is set Away so the queue offers it to someone else. An
    outside number the owner had already passed the call to (`handing_out`) sends the customer
    back to the queue too: nobody else is on the call.
    """
    if leg.kind == Leg.Kind.OPERATOR:
        _end_leg(leg, reason)
        _requeue(locked, away_operator=leg.operator if away else None)
    elif locked.handing_out and leg.pk == locked.consult_leg.pk:
        _end_leg(leg, reason)
        _requeue(locked)
    else:
        _consult_over(locked, leg, reason=reason)


def _connect_outside(locked: LockedCall, number: Leg) -> None:
    """The owner has left and the outside number answered: the customer (off hold) and the number
    talk; the engagement ends for the helpdesk (`call_ended`) and the call is in `outside` mode.
    Only the owner's and other legs hang up: the provider's call is not ended (`_end_call(keep=)`).
    """
    customer = locked.customer
    if customer.state == Leg.State.HELD:
        _move(customer, Leg.State.CONNECTED)
        _provider_later("unhold", customer)
    _set_mode(locked.call, Call.Mode.OUTSIDE, initiator=locked.call.initiator)
    _end_call(
        locked, reason=Engagement.EndReason.CALL_ENDED, leg_reason=Leg.EndReason.TRANSFERRED, keep=(customer, number)
    )


def _end_outside(locked: LockedCall, *, tell_provider: bool = True) -> None:
    """The customer or the outside number hung up (or the provider ended the call): both legs end,
    and the provider's call ends (the other party would be left alone on it otherwise)."""
    for leg in locked.legs:
        _end_leg(leg, Leg.EndReason.HUNG_UP)
    _set_mode(locked.call, Call.Mode.NORMAL)
    if tell_provider:
        _end_provider_call_later(locked)


# --- the acts ---------------------------------------------------------------------------------


def place_call(*, queue: Queue, caller_name: str = "", phone_number: str = "") -> Call:
    """A caller dials into a voice queue: the engagement waits there and routing rings an operator."""
    if queue.media != Media.VOICE:
        raise CallError("wrong_media", "That queue does not take calls.")
    if phone_number:
        phone_number = validate_phone_number(phone_number)
    with transaction.atomic():
        try:
            engagement = start_engagement(queue=queue, visitor_name=caller_name, phone_number=phone_number)
        except ChatError as error:
            raise CallError(error.code, error.message) from None
        call = _create_call(engagement)
    return call


def _create_call(engagement: Engagement) -> Call:
    now = timezone.now()
    call = Call.objects.create(engagement=engagement, provider=get_provider().name)
    Leg.objects.create(call=call, kind=Leg.Kind.CUSTOMER, state=Leg.State.RINGING, ringing_at=now)
    events.call_changed(call.pk)
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
        leg = _ring(locked.call, kind=Leg.Kind.OPERATOR, seconds=seconds, operator_id=operator_id)
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
        _move(leg, Leg.State.CONNECTED)
        if handing_out and leg.kind == Leg.Kind.PHONE:
            _connect_outside(locked, leg)  # the owner already left: the number gets the customer
        elif leg.kind == Leg.Kind.OPERATOR:
            customer = locked.customer
            if customer.state in (Leg.State.RINGING, Leg.State.HELD):
                was_held = customer.state == Leg.State.HELD
                _move(customer, Leg.State.CONNECTED)
                if was_held:
                    _provider_later("unhold", customer)
            _set_mode(locked.call, Call.Mode.NORMAL)
        events.call_changed(locked.call.pk)
    return locked.call


def _require_party(leg: Leg, operator: Operator | None) -> None:
    if leg.kind in (Leg.Kind.OPERATOR, Leg.Kind.CONSULT):
        if operator is None or leg.operator_id != operator.pk:
            raise NotAllowed("not_your_leg", "This is not your call leg.")
    elif operator is not None:
        raise NotAllowed("not_your_leg", "This is not your call leg.")


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


def expire_ringing_leg(*, leg_id: int, reason: str = Leg.EndReason.NO_ANSWER, grace_seconds: int = 0) -> bool:
    """A leg rang past its deadline (+ grace): it stops ringing as if declined. Idempotent:
    returns False if the leg is not ringing any more or not yet overdue."""
    with transaction.atomic():
        try:
            locked, leg = lock_call_of_leg(leg_id)
        except CallError:
            return False
        now = timezone.now()
        overdue = leg.ring_deadline is not None and leg.ring_deadline + timedelta(seconds=grace_seconds) <= now
        if leg.state != Leg.State.RINGING or not overdue or locked.engagement.state == Engagement.State.ENDED:
            return False
        _ring_out(locked, leg, reason=reason, away=leg.kind == Leg.Kind.OPERATOR)
        events.call_changed(locked.call.pk)
    return True


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
        _move(customer, Leg.State.HELD)
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
        _move(customer, Leg.State.CONNECTED)
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
) -> Leg:
    """Transfer/Conf → Call: the customer goes on hold and a consult leg rings the target.

    The target is a skill (its first free voice operator, longest idle; refused with
    `no_agent` before anything rings if there is none), an operator (available on voice), or
    an outside number in E.164. Only the owner, with no consult already open, may start one.
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
            _move(customer, Leg.State.HELD)
            _provider_later("hold", customer)
        _set_mode(locked.call, Call.Mode.CONSULT, initiator=operator)
        try:
            with transaction.atomic():
                leg = _ring(locked.call, seconds=seconds, **fields)
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
        _count(locked.call, "cold_transfers")
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
            _move(customer, Leg.State.CONNECTED)
            _provider_later("unhold", customer)
        _set_mode(locked.call, Call.Mode.CONFERENCE, initiator=operator)
        _count(locked.call, "conferences")
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
    - a ringing leg's own party hanging up declines it.
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
            if leg.state == Leg.State.RINGING:
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


# --- clean-up and reconciliation (called by telephony.tasks) ------------------------------------


def end_open_legs(*, call_id: int) -> int:
    """Legs still open on a call whose engagement ended are ended (ringing ones as cancelled).
    Returns how many it ended; running it again ends none."""
    with transaction.atomic():
        locked = lock_call(call_id)
        if locked.engagement.state != Engagement.State.ENDED or locked.call.mode == Call.Mode.OUTSIDE:
            return 0  # an outside call's legs stay open until one party hangs up (or the provider says)
        ended = 0
        for leg in locked.legs:
            if leg.is_open:
                _end_leg(leg, Leg.EndReason.CANCELLED if leg.state == Leg.State.RINGING else Leg.EndReason.HUNG_UP)
                ended += 1
        if locked.call.mode != Call.Mode.NORMAL:
            _set_mode(locked.call, Call.Mode.NORMAL)
        if ended:
            events.call_changed(call_id)
    return ended


def requeue_customer_alone_on_hold(*, call_id: int, limit_seconds: int) -> bool:
    """A customer on hold for longer than `limit_seconds` with nobody else on the call is taken
    off hold and queued to the call's skill again. Idempotent."""
    with transaction.atomic():
        locked = lock_call(call_id)
        if locked.engagement.state == Engagement.State.ENDED:
            return False
        customer = locked.customer
        cutoff = timezone.now() - timedelta(seconds=limit_seconds)
        others = [leg for leg in locked.legs if leg.kind != Leg.Kind.CUSTOMER and leg.is_open]
        if customer.state != Leg.State.HELD or customer.held_at is None or customer.held_at > cutoff or others:
            return False
        _requeue(locked)
        events.call_changed(call_id)
    return True


def reconcile_provider_ended(*, call_id: int) -> bool:
    """The provider says the call ended: end it here too (every leg, the engagement). Idempotent."""
    with transaction.atomic():
        locked = lock_call(call_id)
        if locked.call.provider_ended_at is None:
            Call.objects.filter(pk=call_id).update(provider_ended_at=timezone.now())
        if locked.call.mode == Call.Mode.OUTSIDE:
            _end_outside(locked, tell_provider=False)
            events.call_changed(call_id)
            return True
        if locked.engagement.state == Engagement.State.ENDED:
            return False
        _end_call(locked, reason=Engagement.EndReason.CALL_ENDED)
        events.call_changed(call_id)
    return True


def withdraw_ringing_legs(*, operator: Operator) -> int:
    """The operator left `available` on voice: legs ringing for them stop (consults end, offered
    calls go back to the queue). Returns how many."""
    leg_ids = list(
        Leg.objects.filter(operator=operator, state=Leg.State.RINGING).values_list("pk", flat=True).order_by("pk")
    )
    for leg_id in leg_ids:
        with transaction.atomic():
            locked, leg = lock_call_of_leg(leg_id)
            if leg.state != Leg.State.RINGING or locked.engagement.state == Engagement.State.ENDED:
                continue
            _ring_out(locked, leg, reason=Leg.EndReason.CANCELLED, away=False)
            events.call_changed(locked.call.pk)
    return len(leg_ids)


# --- provider events --------------------------------------------------------------------------


def apply_provider_event(*, provider: str, event: ProviderEventData) -> bool:
    """Apply one provider event once, in sequence order per resource.

    A repeated event (same resource and sequence) is ignored, and so is one older than an event
    already applied for that resource: its effect has been overtaken. Returns whether it applied.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ProviderEvent.objects.create(
                    provider=provider,
                    resource_id=event.resource_id,
                    sequence=event.sequence,
                    kind=event.kind,
                    payload=event.payload,
                )
        except IntegrityError:
            return False
        newer = ProviderEvent.objects.filter(
            provider=provider, resource_id=event.resource_id, sequence__gt=event.sequence, applied=True
        ).exists()
        if newer:
            return False
        handler = _EVENT_HANDLERS.get(event.kind)
        applied = handler(provider, event) if handler else False
        if applied:
            ProviderEvent.objects.filter(pk=record.pk).update(applied=True)
    return bool(applied)


def _leg_by_provider_id(provider_leg_id: str) -> Leg | None:
    if not provider_leg_id:
        return None
    return Leg.objects.filter(provider_leg_id=provider_leg_id).order_by("-pk").first()


def _call_by_conference(provider: str, event: ProviderEventData) -> Call | None:
    if event.provider_call_id:
        call = Call.objects.filter(provider=provider, provider_call_id=event.provider_call_id).first()
        if call:
            return call
    prefix = get_provider().conference_name(0)[:-1]
    if event.conference.startswith(prefix) and event.conference[len(prefix) :].isdigit():
        return Call.objects.filter(pk=int(event.conference[len(prefix) :])).first()
    return None


def _on_call_started(provider: str, event: ProviderEventData) -> bool:
    call = _call_by_conference(provider, event)
    if call is None or call.provider_call_id:
        return False
    Call.objects.filter(pk=call.pk, provider_call_id="").update(provider_call_id=event.provider_call_id)
    return True


def _on_call_ended(provider: str, event: ProviderEventData) -> bool:
    call = _call_by_conference(provider, event)
    if call is None:
        return False
    Call.objects.filter(pk=call.pk, provider_ended_at__isnull=True).update(provider_ended_at=timezone.now())
    reconcile_provider_ended(call_id=call.pk)
    return True


def _on_leg_answered(provider: str, event: ProviderEventData) -> bool:
    leg = _leg_by_provider_id(event.provider_leg_id)
    if leg is None or leg.state != Leg.State.RINGING:
        return False
    answer_leg(leg_id=leg.pk, operator=leg.operator if leg.kind in (Leg.Kind.OPERATOR, Leg.Kind.CONSULT) else None)
    return True


def _on_leg_ended(provider: str, event: ProviderEventData) -> bool:
    leg = _leg_by_provider_id(event.provider_leg_id)
    if leg is None or not leg.is_open:
        return False
    reason = event.end_reason or Leg.EndReason.HUNG_UP
    if leg.state == Leg.State.RINGING and leg.kind != Leg.Kind.CUSTOMER:
        with transaction.atomic():
            locked, leg = lock_call_of_leg(leg.pk)
            _ring_out(locked, leg, reason=reason, away=False)
            events.call_changed(locked.call.pk)
        return True
    operator = leg.operator if leg.kind in (Leg.Kind.OPERATOR, Leg.Kind.CONSULT) else None
    hang_up(leg_id=leg.pk, operator=operator)
    return True


_EVENT_HANDLERS: dict[str, Callable[[str, ProviderEventData], bool]] = {
    "call.started": _on_call_started,
    "call.ended": _on_call_ended,
    "leg.answered": _on_leg_answered,
    "leg.ended": _on_leg_ended,
}
