"""A supervisor on a call (issue 13.4): their leg joins, changes role, leaves, or takes the call over.

Call control only. Who may supervise which site, the audit trail and the watches belong to
supervision (`supervision/voice.py`), which checks permission first and calls these inside its
own transaction. The lock order is every call act's: engagement, call, legs (`lock_call`).

Roles (`Leg.Role`; who hears whom is `Leg.HEARD_BY`): listen (muted), coach (heard by the owner
only), barge (three-way: everyone hears them). A supervisor has at most one open leg per call;
joining again in another role changes that leg's role. Take over: the owner's leg ends
(`taken_over`), the engagement goes to the supervisor's operator profile, and the supervisor's
leg (or a new one, if they were not on the call) becomes the owner's leg.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.errors import ChatError
from helpdesk.models import Availability, Engagement, Media, Operator, Ownership
from helpdesk.services.engagements import hand_over

from .. import events
from ..errors import CallError
from ..models import Call, Leg
from ..providers import SupervisorAudio
from .provider_requests import _audio_later, _dial_later, _provider_later
from .steps import LockedCall, _dial_target, _end_leg, _move_leg, _recoach, _require_open, lock_call


def _connected_leg(locked, **fields) -> Leg:
    """A supervisor's leg joins already connected (the provider dials their client on commit)."""
    now = timezone.now()
    leg = Leg.objects.create(call=locked.call, state=Leg.State.CONNECTED, ringing_at=now, connected_at=now, **fields)
    leg.call = locked.call
    return leg


def _supervisor_leg(locked: LockedCall, supervisor) -> Leg | None:
    return next(
        (
            leg
            for leg in locked.legs
            if leg.kind == Leg.Kind.SUPERVISOR and leg.is_open and leg.supervisor_id == supervisor.pk
        ),
        None,
    )


def _audio(locked: LockedCall, role: str) -> SupervisorAudio:
    if role == Leg.Role.LISTEN:
        return SupervisorAudio(muted=True)
    if role == Leg.Role.COACH:
        owner_leg = locked.owner_leg
        return SupervisorAudio(coach_provider_leg_id=owner_leg.provider_leg_id if owner_leg else "")
    return SupervisorAudio()


def _require_supervisable(locked: LockedCall) -> Leg:
    """Someone owns the call and is talking on it: there is a conversation to supervise."""
    _require_open(locked)
    owner_leg = locked.owner_leg
    if (
        locked.engagement.state != Engagement.State.ACTIVE
        or owner_leg is None
        or owner_leg.state != Leg.State.CONNECTED
    ):
        raise CallError("not_answered", "Nobody is talking on this call yet: supervise it once it is answered.")
    return owner_leg


def supervise_call(*, call_id: int, supervisor, role: str) -> tuple[Leg, bool]:
    """The supervisor joins the call in `role` (listen, coach, barge), or their open leg changes
    to that role. Returns the leg and whether anything changed (the same role twice is one act).

    Refused (`not_answered`) unless an owner is connected on the call."""
    if role not in Leg.Role.values:
        raise CallError("bad_role", "Listen, coach or barge.")
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_supervisable(locked)
        leg = _supervisor_leg(locked, supervisor)
        audio = _audio(locked, role)
        if leg is None:
            leg = _connected_leg(locked, kind=Leg.Kind.SUPERVISOR, supervisor=supervisor, role=role)
            _dial_later(
                leg,
                to=f"client:supervisor-{supervisor.pk}",
                ring_timeout=settings.CONSULT_RING_TIMEOUT_SECONDS,
                audio=audio,
            )
        elif leg.role == role:
            return leg, False
        else:
            Leg.objects.filter(pk=leg.pk).update(role=role)
            leg.role = role
            _audio_later(leg, audio)
        events.call_changed(call_id)
    return leg, True


def leave_supervised_call(*, call_id: int, supervisor) -> Leg | None:
    """The supervisor's leg hangs up; nobody else on the call notices. None if they had none open."""
    with transaction.atomic():
        locked = lock_call(call_id)
        leg = _supervisor_leg(locked, supervisor)
        if leg is None:
            return None
        _end_leg(leg, Leg.EndReason.HUNG_UP)
        events.call_changed(call_id)
    return leg


def take_over_call(*, call_id: int, supervisor, operator: Operator, expected_owner_id: int | None) -> Call:
    """The supervisor (as `operator`, their operator profile) becomes the call's owner.

    Only one wins: under the call's locks, when the owner is no longer `expected_owner_id` (the
    owner the supervisor saw), the act is refused (`already_taken`, naming who has it). Refused
    during a consult or conference (`busy_call`) and without room on voice (`at_capacity`). The
    old owner's leg ends as `taken_over`; a customer on hold comes off hold to talk to the new owner.
    """
    with transaction.atomic():
        locked = lock_call(call_id)
        _require_open(locked)
        engagement = locked.engagement
        if engagement.owner_id == operator.pk:
            return locked.call
        if expected_owner_id is not None and engagement.owner_id != expected_owner_id:
            owner = Operator.objects.filter(pk=engagement.owner_id).first()
            raise CallError("already_taken", f"{owner.display_name if owner else 'Someone else'} has this call now.")
        owner_leg = _require_supervisable(locked)
        if locked.call.mode != Call.Mode.NORMAL:
            raise CallError("busy_call", "Wait until the consult or conference on this call is over.")
        if not Availability.objects.filter(operator=operator, media=Media.VOICE).exists():
            raise CallError("target_unavailable", "You take calls only with a voice profile (open your phone once).")
        try:
            hand_over(engagement_id=engagement.pk, to_operator_id=operator.pk, because=Ownership.Start.TAKEN_OVER)
        except ChatError as error:
            raise CallError(error.code, error.message) from None
        engagement.refresh_from_db()
        _end_leg(owner_leg, Leg.EndReason.TAKEN_OVER)
        leg = _supervisor_leg(locked, supervisor)
        if leg is not None:
            Leg.objects.filter(pk=leg.pk).update(kind=Leg.Kind.OPERATOR, operator=operator, role="")
            leg.kind, leg.operator, leg.role = Leg.Kind.OPERATOR, operator, ""
            _audio_later(leg, SupervisorAudio())
        else:
            leg = _connected_leg(locked, kind=Leg.Kind.OPERATOR, operator=operator, supervisor=supervisor)
            locked.legs.append(leg)
            _dial_later(leg, to=_dial_target(leg), ring_timeout=settings.CONSULT_RING_TIMEOUT_SECONDS)
        customer = locked.customer
        if customer.state == Leg.State.HELD:
            _move_leg(customer, Leg.State.CONNECTED)
            _provider_later("unhold", customer)
        _recoach(locked)
        events.call_changed(call_id)
    return locked.call
