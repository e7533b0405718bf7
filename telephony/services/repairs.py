"""Repairs: what the ring countdown, the leg clean-up sweep (telephony.cleanup, run by
telephony.tasks) and the core's signals (telephony.receivers) ask of a call.

Each re-reads the call under its locks (`steps.lock_call`) and does nothing if the
call is already fine, so running one twice, or two sweeps at once, changes nothing more.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from helpdesk.models import Engagement, Operator

from .. import events
from ..errors import CallError
from ..models import Call, Leg
from .steps import _end_call, _end_leg, _end_outside, _requeue, _ring_out, _set_mode, lock_call, lock_call_of_leg


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
