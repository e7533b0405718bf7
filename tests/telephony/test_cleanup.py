"""The leg clean-up sweep: each repair, its idempotence and its batch bound (called directly)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Media
from helpdesk.services.presence import set_availability
from telephony import cleanup, services
from telephony.models import Call, Leg

from .conftest import voice

pytestmark = pytest.mark.django_db(transaction=True)
S = Leg.State


def open_legs_on_ended_calls() -> int:
    return Leg.objects.filter(state__in=Leg.OPEN_STATES, call__engagement__state=Engagement.State.ENDED).count()


def break_call(call: Call) -> None:
    """What a crash between two writes could leave: the engagement ended, its legs still open."""
    Engagement.objects.filter(pk=call.engagement_id).update(
        state=Engagement.State.ENDED, ended_at=timezone.now(), end_reason="call_ended", owner=None
    )


def test_ringing_past_timeout_and_grace_is_cancelled_but_not_before(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    Leg.objects.filter(pk=leg.pk).update(ring_deadline=timezone.now() - timedelta(seconds=5))
    with override_settings(LEG_CLEANUP_GRACE_SECONDS=10):
        assert cleanup.clean_up_legs()["cancelled"] == 0
    with override_settings(LEG_CLEANUP_GRACE_SECONDS=2):
        assert cleanup.clean_up_legs()["cancelled"] == 1
        assert cleanup.clean_up_legs()["cancelled"] == 0
    leg.refresh_from_db()
    assert leg.end_reason == Leg.EndReason.CANCELLED
    assert centre.call(call.pk).mode == Call.Mode.NORMAL and voice(centre.b).load == 0


def test_open_legs_on_ended_calls_are_ended(centre):
    call = centre.consulting()
    break_call(call)
    assert open_legs_on_ended_calls() == 3
    assert cleanup.clean_up_legs()["ended"] == 1
    assert open_legs_on_ended_calls() == 0
    assert cleanup.clean_up_legs()["ended"] == 0
    assert voice(centre.b).load == 0


def test_customer_alone_on_hold_too_long_is_taken_off_hold_and_queued_again(centre):
    call = centre.answered_call()
    services.put_on_hold(call_id=call.pk, operator=centre.a)
    # The operator's leg drops (say their phone died) and nothing else touched the call.
    Leg.objects.filter(call=call, kind=Leg.Kind.OPERATOR).update(
        state=S.ENDED, ended_at=timezone.now(), end_reason=Leg.EndReason.FAILED
    )
    set_availability(operator=centre.a, media=Media.VOICE, status=Availability.Status.AWAY)
    Leg.objects.filter(call=call, kind=Leg.Kind.CUSTOMER).update(held_at=timezone.now() - timedelta(seconds=30))
    with override_settings(HOLD_ALONE_LIMIT_SECONDS=60):
        assert cleanup.clean_up_legs()["requeued"] == 0
    with override_settings(HOLD_ALONE_LIMIT_SECONDS=20):
        assert cleanup.clean_up_legs()["requeued"] == 1
        assert cleanup.clean_up_legs()["requeued"] == 0
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.QUEUED and call.engagement.queue == centre.sales
    assert centre.legs(call)["customer"].state == S.RINGING
    assert voice(centre.a).load == 0


def test_customer_on_hold_with_the_operator_still_there_is_left_alone(centre):
    call = centre.answered_call()
    services.put_on_hold(call_id=call.pk, operator=centre.a)
    Leg.objects.filter(call=call, kind=Leg.Kind.CUSTOMER).update(held_at=timezone.now() - timedelta(hours=1))
    assert cleanup.clean_up_legs()["requeued"] == 0


def test_calls_the_provider_reported_ended_are_reconciled(centre):
    call = centre.conferencing()
    Call.objects.filter(pk=call.pk).update(provider_ended_at=timezone.now())
    assert cleanup.clean_up_legs()["reconciled"] == 1
    assert cleanup.clean_up_legs()["reconciled"] == 0
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.ENDED
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()


def test_calls_the_provider_says_ended_when_asked_are_reconciled(centre, monkeypatch):
    call = centre.answered_call()
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF123")
    from telephony.providers.builtin import BuiltinProvider

    monkeypatch.setattr(BuiltinProvider, "ended_calls", lambda self, ids: [i for i in ids if i == "CF123"])
    assert cleanup.clean_up_legs()["reconciled"] == 1
    assert centre.call(call.pk).engagement.state == Engagement.State.ENDED


def test_each_repair_takes_a_bounded_batch(centre):
    calls = [services.place_call(queue=centre.sales) for _ in range(3)]
    for call in calls:
        break_call(call)
    assert cleanup.clean_up_legs(batch_size=2)["ended"] == 2
    assert cleanup.clean_up_legs(batch_size=2)["ended"] == 1
    assert open_legs_on_ended_calls() == 0
