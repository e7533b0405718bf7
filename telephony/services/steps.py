"""The steps the call acts share, and the lock they all take first.

Lock order: every act locks the engagement, then the call, then its legs (in that order, always,
through `lock_call` / `lock_call_of_leg`), and every step here expects the caller to hold those
locks (`LockedCall`) and to have checked the rule it enforces. Requests to the provider
(provider_requests.py) and frames (telephony.events) go out once the transaction commits.

The owner of a call is the owner of its engagement; their connection is the `operator` leg.
A consult adds one `consult` (operator) or `phone` (outside number) leg. Passing the call to
the consult target (cold transfer, release from a conference, or the initiator hanging up
during a consult) turns the target's consult leg into the owner leg and hands the engagement
over. While a consult target rings or talks, their voice capacity is reserved (load + 1) so
routing does not give them another call meanwhile (`_reserve_operator` / `_free_operator`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from helpdesk.errors import ChatError, NotAllowed
from helpdesk.events import queues_changed
from helpdesk.lock_objects import lock_engagement
from helpdesk.models import Availability, Engagement, Media, Operator, Ownership
from helpdesk.services.capacity import free_capacity, occupy_capacity
from helpdesk.services.engagements import end_engagement, hand_over
from helpdesk.services.presence import set_availability
from helpdesk.services.routing import release_ownership, route_if_available, schedule_routing

from .. import events
from ..errors import CallError
from ..models import Call, Leg
from ..providers import SupervisorAudio, get_provider
from .provider_requests import _audio_later, _end_provider_call_later, _provider_later

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


def _move_leg(leg: Leg, state: str, *, reason: str = "") -> None:
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
    _move_leg(leg, Leg.State.ENDED, reason=reason)
    if leg.kind == Leg.Kind.CONSULT:
        _free_operator(leg.operator_id)
    _provider_later("hang_up", leg)


def _count_act(call: Call, counter: str) -> None:
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
    """Count a ringing or talking consult target as busy on voice (locked availability).

    Through the core's capacity service, so the consoles hear of it and a target this fills up
    has their standing offers withdrawn, as for any other work."""
    if not availability.has_room:
        raise CallError(
            "target_unavailable", f"{availability.operator.display_name} is not available for calls right now."
        )
    occupy_capacity(availability=availability)


def _free_operator(operator_id: int, *, route: bool = True) -> None:
    availability = free_capacity(operator_id=operator_id, media=Media.VOICE)
    if route:
        route_if_available(availability)


# --- ringing ---------------------------------------------------------------------------------


def _schedule_ring_timeout(leg: Leg, seconds: int) -> None:
    def run():
        from ..tasks import ring_timeout

        try:
            ring_timeout.apply_async((leg.pk,), countdown=seconds)
        except Exception:  # the beat sweep expires it anyway
            logger.exception("Could not schedule the ring timeout of leg %s", leg.pk)

    transaction.on_commit(run)


def _ring_new_leg(call: Call, *, kind: str, seconds: int, **fields) -> Leg:
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


def _create_call(engagement: Engagement) -> Call:
    now = timezone.now()
    call = Call.objects.create(engagement=engagement, provider=get_provider().name)
    Leg.objects.create(call=call, kind=Leg.Kind.CUSTOMER, state=Leg.State.RINGING, ringing_at=now)
    events.call_changed(call.pk)
    return call


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


def _require_party(leg: Leg, operator: Operator | None) -> None:
    if leg.kind in (Leg.Kind.OPERATOR, Leg.Kind.CONSULT):
        if operator is None or leg.operator_id != operator.pk:
            raise NotAllowed("not_your_leg", "This is not your call leg.")
    elif operator is not None:
        raise NotAllowed("not_your_leg", "This is not your call leg.")


# --- where the call goes next -----------------------------------------------------------------


def _requeue(locked: LockedCall, *, away_operator: Operator | None = None) -> None:
    """Nobody took the call: the customer waits in the call's queue again (and is routed)."""
    engagement = locked.engagement
    for leg in locked.legs:
        if leg.kind != Leg.Kind.CUSTOMER:
            _end_leg(leg, Leg.EndReason.CANCELLED)
    customer = locked.customer
    if customer.state == Leg.State.CONNECTED:
        _move_leg(customer, Leg.State.HELD)  # a connected customer goes through hold back to waiting
    if customer.state == Leg.State.HELD:
        _move_leg(customer, Leg.State.RINGING)
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
        _end_provider_call_later(locked.call)


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
        _move_leg(customer, Leg.State.CONNECTED)
        _provider_later("unhold", customer)
    _recoach(locked)


def _recoach(locked: LockedCall) -> None:
    """The call has a new owner leg: supervisors coaching keep coaching whoever owns the call now
    (Twilio's CallSidToCoach names one participant)."""
    owner_leg = locked.owner_leg
    for leg in locked.legs:
        if leg.kind == Leg.Kind.SUPERVISOR and leg.is_open and leg.role == Leg.Role.COACH and owner_leg is not None:
            _audio_later(leg, SupervisorAudio(coach_provider_leg_id=owner_leg.provider_leg_id))


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
        _move_leg(customer, Leg.State.CONNECTED)
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
        _end_provider_call_later(locked.call)
