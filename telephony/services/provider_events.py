"""Provider events (status webhooks, the built-in provider's callbacks): applied once, in order,
by dispatching each kind to the act or repair it means.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import events
from ..models import Call, Leg, ProviderEvent
from ..providers import ProviderEventData, get_provider
from .acts import answer_leg, hang_up
from .repairs import reconcile_provider_ended
from .steps import _ring_out, lock_call_of_leg


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
