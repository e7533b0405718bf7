"""An outside phone number as the consult target: the owner leaving never leaves the customer alone.

Policy (DESIGN.md, docs/telephony.md): when the owner passes the call to an outside number (cold
transfer, release from the conference, or hanging up during the consult), an answered number
gets the customer now; a number that is still ringing keeps the customer on hold and gets them
when it answers — or, if it never answers, the customer goes back to the call's queue. While the
customer and the number talk, the helpdesk's part (the engagement) has ended but their two legs
stay open (call mode `outside`) until one of them hangs up: the provider's call is not ended.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.errors import NotAllowed
from helpdesk.models import Engagement, Ownership
from telephony import cleanup, services
from telephony.errors import CallError
from telephony.models import Call, Leg

from .conftest import voice

pytestmark = pytest.mark.django_db(transaction=True)

S = Leg.State
R = Leg.EndReason
NUMBER = "+12025550123"


def consult_number(centre, *, answered: bool) -> tuple[Call, Leg]:
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number=NUMBER)
    if answered:
        services.answer_leg(leg_id=leg.pk)  # the outside party answers (provider side)
    return centre.call(call.pk), leg


def states(call: Call) -> dict[str, tuple[str, str]]:
    return {leg.kind: (leg.state, leg.end_reason) for leg in Leg.objects.filter(call=call).order_by("pk")}


def assert_customer_with_the_number(centre, call: Call, *, owner_reason: str) -> None:
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.OUTSIDE and call.initiator == centre.a
    assert states(call) == {
        "customer": (S.CONNECTED, ""),
        "operator": (S.ENDED, owner_reason),
        "phone": (S.CONNECTED, ""),
    }
    assert call.engagement.state == Engagement.State.ENDED
    assert call.engagement.end_reason == Engagement.EndReason.CALL_ENDED
    assert voice(centre.a).load == 0
    assert not Ownership.objects.filter(engagement=call.engagement, ended_at__isnull=True).exists()


# --- an answered number gets the customer now -----------------------------------------------------


@pytest.mark.parametrize(
    ("leave", "owner_reason"),
    [
        (lambda c, call: services.cold_transfer(call_id=call.pk, operator=c.a), R.TRANSFERRED),
        (lambda c, call: services.hang_up(leg_id=c.leg_of(call, c.a).pk, operator=c.a), R.HUNG_UP),
    ],
    ids=["cold-transfer", "initiator-hangs-up"],
)
def test_answered_number_gets_the_customer_when_the_owner_leaves_the_consult(centre, leave, owner_reason):
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call, leg = consult_number(centre, answered=True)
    leave(centre, call)
    assert_customer_with_the_number(centre, call, owner_reason=owner_reason)


def test_release_from_a_conference_with_a_number_leaves_customer_and_number_talking(centre):
    call, leg = consult_number(centre, answered=True)
    services.conference(call_id=call.pk, operator=centre.a)
    services.release_call(call_id=call.pk, operator=centre.a)
    assert_customer_with_the_number(centre, call, owner_reason=R.TRANSFERRED)


def test_the_clean_up_leaves_a_customer_talking_to_the_number_alone(centre, settings):
    settings.HOLD_ALONE_LIMIT_SECONDS = 0
    call, leg = consult_number(centre, answered=True)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    assert services.end_open_legs(call_id=call.pk) == 0
    assert cleanup.clean_up_legs() == {"cancelled": 0, "ended": 0, "requeued": 0, "reconciled": 0}
    assert_customer_with_the_number(centre, call, owner_reason=R.HUNG_UP)


@pytest.mark.parametrize("who", ["customer", "phone"])
def test_either_party_hanging_up_ends_the_outside_call(centre, who):
    call, leg = consult_number(centre, answered=True)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    services.hang_up(leg_id=centre.legs(call)[who].pk)
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.NORMAL and call.initiator is None
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()
    assert states(call)["customer"] == (S.ENDED, R.HUNG_UP) and states(call)["phone"] == (S.ENDED, R.HUNG_UP)
    with pytest.raises(CallError) as error:
        services.hang_up(leg_id=centre.legs(call)[who].pk)
    assert error.value.code == "ended"


def test_nobody_but_the_two_parties_can_act_on_an_outside_call(centre):
    call, leg = consult_number(centre, answered=True)
    own_leg = centre.leg_of(call, centre.a)
    services.hang_up(leg_id=own_leg.pk, operator=centre.a)
    with pytest.raises(NotAllowed):
        services.hang_up(leg_id=own_leg.pk, operator=centre.a)
    with pytest.raises(NotAllowed):
        services.hang_up(leg_id=centre.legs(call)["customer"].pk, operator=centre.a)
    with pytest.raises(CallError) as error:
        services.put_on_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "ended"


def test_the_provider_saying_the_outside_call_ended_ends_both_legs(centre):
    call, leg = consult_number(centre, answered=True)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    Call.objects.filter(pk=call.pk).update(provider_ended_at=timezone.now())
    assert cleanup.clean_up_legs()["reconciled"] == 1
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()
    assert centre.call(call.pk).mode == Call.Mode.NORMAL


# --- a ringing number gets the customer when it answers -----------------------------------------


LEAVE_WHILE_RINGING = [
    (lambda c, call: services.cold_transfer(call_id=call.pk, operator=c.a), R.TRANSFERRED),
    (lambda c, call: services.hang_up(leg_id=c.leg_of(call, c.a).pk, operator=c.a), R.HUNG_UP),
]
IDS = ["cold-transfer", "initiator-hangs-up"]


def leave_while_ringing(centre, leave) -> tuple[Call, Leg]:
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call, leg = consult_number(centre, answered=False)
    leave(centre, call)
    return centre.call(call.pk), leg


@pytest.mark.parametrize(("leave", "owner_reason"), LEAVE_WHILE_RINGING, ids=IDS)
def test_ringing_number_keeps_the_customer_on_hold_and_gets_them_when_it_answers(centre, leave, owner_reason):
    call, leg = leave_while_ringing(centre, leave)
    # Never alone: the customer is on hold with the number still ringing; the call is still the
    # helpdesk's (A keeps the engagement, not the line) and nothing was cancelled.
    assert states(call) == {"customer": (S.HELD, ""), "operator": (S.ENDED, owner_reason), "phone": (S.RINGING, "")}
    assert call.engagement.state == Engagement.State.ACTIVE and call.engagement.owner == centre.a
    assert call.mode == Call.Mode.CONSULT
    with pytest.raises(NotAllowed):
        services.take_off_hold(call_id=call.pk, operator=centre.a)
    services.answer_leg(leg_id=leg.pk)
    assert_customer_with_the_number(centre, call, owner_reason=owner_reason)


@pytest.mark.parametrize(("leave", "owner_reason"), LEAVE_WHILE_RINGING, ids=IDS)
def test_ringing_number_that_never_answers_sends_the_customer_back_to_the_queue(centre, leave, owner_reason):
    call, leg = leave_while_ringing(centre, leave)
    Leg.objects.filter(pk=leg.pk).update(ring_deadline=timezone.now() - timedelta(seconds=1))
    assert services.expire_ringing_leg(leg_id=leg.pk)
    call = centre.call(call.pk)
    leg.refresh_from_db()
    assert leg.end_reason == R.NO_ANSWER and call.mode == Call.Mode.NORMAL
    # Back in the queue: waiting, or already routed again (A is free and serves the line).
    assert call.engagement.state in (Engagement.State.QUEUED, Engagement.State.ACTIVE)
    assert centre.legs(call)["customer"].state == S.RINGING
    assert Ownership.objects.filter(engagement=call.engagement, ended_because=Ownership.End.REQUEUED).exists()


def test_ringing_number_declining_sends_the_customer_back_to_the_queue(centre):
    call, leg = leave_while_ringing(centre, LEAVE_WHILE_RINGING[1][0])
    services.hang_up(leg_id=leg.pk)  # the number rejects the call (provider: busy / declined)
    call = centre.call(call.pk)
    assert Leg.objects.get(pk=leg.pk).end_reason == R.DECLINED
    assert call.engagement.state in (Engagement.State.QUEUED, Engagement.State.ACTIVE)
    assert centre.legs(call)["customer"].state == S.RINGING


def test_the_sweep_does_not_take_the_waiting_customer_off_hold_while_the_number_rings(centre, settings):
    settings.HOLD_ALONE_LIMIT_SECONDS = 0
    call, leg = leave_while_ringing(centre, LEAVE_WHILE_RINGING[1][0])
    assert cleanup.clean_up_legs()["requeued"] == 0
    assert centre.legs(call)["customer"].state == S.HELD and Leg.objects.get(pk=leg.pk).state == S.RINGING


def test_customer_hanging_up_while_the_number_rings_cancels_it(centre):
    call, leg = leave_while_ringing(centre, LEAVE_WHILE_RINGING[1][0])
    services.hang_up(leg_id=centre.legs(call)["customer"].pk)
    call = centre.call(call.pk)
    assert call.engagement.end_reason == Engagement.EndReason.CALLER_HUNG_UP
    assert Leg.objects.get(pk=leg.pk).end_reason == R.CANCELLED
    assert voice(centre.a).load == 0


def test_the_caller_simulator_shows_the_caller_still_connected_with_the_number(client, centre):
    from telephony.views import make_caller_token

    call, leg = consult_number(centre, answered=True)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    view = client.get(f"/phone/simulator/api/calls/{make_caller_token(call)}/").json()["call"]
    assert view["state"] == "active" and view["leg"]["state"] == S.CONNECTED and view["operator_name"] == ""
    services.hang_up(leg_id=leg.pk)  # the number hangs up: the caller's call ends too
    view = client.get(f"/phone/simulator/api/calls/{make_caller_token(call)}/").json()["call"]
    assert view["state"] == "ended" and view["leg"]["state"] == S.ENDED
