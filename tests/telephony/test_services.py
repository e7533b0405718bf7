"""Call control: every transition of the phone seed, every forbidden act, and the edge cases."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.errors import NotAllowed
from helpdesk.models import Availability, Engagement, Media, Ownership
from helpdesk.services.presence import set_availability
from telephony import services
from telephony.errors import CallError
from telephony.models import Call, Leg
from tests.factories import LegFactory

from .conftest import voice

pytestmark = pytest.mark.django_db(transaction=True)

S = Leg.State
R = Leg.EndReason


def overdue(leg: Leg) -> None:
    Leg.objects.filter(pk=leg.pk).update(ring_deadline=timezone.now() - timedelta(seconds=1))


# --- a call comes in -------------------------------------------------------------------------


def test_placed_call_rings_an_operator_of_its_queue(centre):
    call = services.place_call(queue=centre.sales, caller_name="Pat Caller", phone_number="+44 20 7946 0958")
    call = centre.call(call.pk)
    legs = centre.legs(call)
    assert legs["customer"].state == S.RINGING
    assert legs["operator"].operator == centre.a and legs["operator"].state == S.RINGING
    assert legs["operator"].ring_deadline > timezone.now()
    assert call.engagement.owner == centre.a and call.engagement.media == Media.VOICE
    assert call.engagement.visitor.phone_number == "+442079460958"


def test_answering_connects_operator_and_customer_with_times(centre):
    call = centre.answered_call()
    legs = centre.legs(call)
    assert legs["customer"].state == S.CONNECTED and legs["customer"].connected_at
    assert legs["operator"].state == S.CONNECTED and legs["operator"].connected_at
    assert legs["operator"].ring_deadline is None


def test_place_call_refuses_a_chat_queue(centre):
    centre.sales.media = Media.CHAT
    with pytest.raises(CallError) as error:
        services.place_call(queue=centre.sales)
    assert error.value.code == "wrong_media"


def test_declined_offer_goes_back_to_the_queue_and_operator_is_set_away(centre):
    call = services.place_call(queue=centre.sales)
    services.decline_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    call = centre.call(call.pk)
    assert centre.leg_of(call, centre.a).end_reason == R.DECLINED
    assert call.engagement.state == Engagement.State.QUEUED and call.engagement.owner is None
    assert centre.legs(call)["customer"].state == S.RINGING
    assert voice(centre.a).status == Availability.Status.AWAY and voice(centre.a).load == 0
    assert Ownership.objects.get(engagement=call.engagement).ended_because == Ownership.End.REQUEUED


def test_requeued_call_rings_the_next_free_operator(centre):
    centre.sales.teams.add(*centre.b.teams.all())
    call = services.place_call(queue=centre.sales)
    first = Leg.objects.get(call=call, kind=Leg.Kind.OPERATOR)
    services.decline_leg(leg_id=first.pk, operator=first.operator)
    second = Leg.objects.get(call=call, kind=Leg.Kind.OPERATOR, state=S.RINGING)
    assert second.operator != first.operator


def test_unanswered_offer_ends_as_no_answer_and_requeues(centre):
    call = services.place_call(queue=centre.sales)
    leg = centre.leg_of(call, centre.a)
    assert services.expire_ringing_leg(leg_id=leg.pk) is False  # not yet due
    overdue(leg)
    assert services.expire_ringing_leg(leg_id=leg.pk) is True
    assert services.expire_ringing_leg(leg_id=leg.pk) is False  # twice is harmless
    leg.refresh_from_db()
    assert leg.end_reason == R.NO_ANSWER
    assert centre.call(call.pk).engagement.state == Engagement.State.QUEUED
    assert voice(centre.a).status == Availability.Status.AWAY


def test_customer_hanging_up_while_queued_abandons_the_call(centre):
    set_availability(operator=centre.a, media=Media.VOICE, status=Availability.Status.AWAY)
    call = services.place_call(queue=centre.sales)
    services.hang_up(leg_id=centre.legs(call)["customer"].pk)
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.ENDED
    assert call.engagement.end_reason == Engagement.EndReason.ABANDONED
    assert centre.legs(call)["customer"].end_reason == R.HUNG_UP


def test_answer_of_a_leg_that_stopped_ringing_is_refused(centre):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.answer_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    assert error.value.code == "not_ringing"


def test_nobody_answers_someone_elses_leg(centre):
    call = services.place_call(queue=centre.sales)
    with pytest.raises(NotAllowed):
        services.answer_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.b)
    with pytest.raises(NotAllowed):
        services.hang_up(leg_id=centre.legs(call)["customer"].pk, operator=centre.a)


# --- hold ------------------------------------------------------------------------------------


def test_hold_and_take_off_hold_stamp_the_times(centre):
    call = centre.answered_call()
    services.put_on_hold(call_id=call.pk, operator=centre.a)
    customer = centre.legs(call)["customer"]
    assert customer.state == S.HELD and customer.held_at
    services.take_off_hold(call_id=call.pk, operator=centre.a)
    customer.refresh_from_db()
    assert customer.state == S.CONNECTED


def test_hold_twice_and_unhold_when_not_held_are_refused(centre):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.take_off_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_on_hold"
    services.put_on_hold(call_id=call.pk, operator=centre.a)
    with pytest.raises(CallError) as error:
        services.put_on_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "already_on_hold"


def test_only_the_owner_holds(centre):
    call = centre.answered_call()
    with pytest.raises(NotAllowed):
        services.put_on_hold(call_id=call.pk, operator=centre.b)


def test_acts_before_answering_are_refused(centre):
    call = services.place_call(queue=centre.sales)
    with pytest.raises(CallError) as error:
        services.put_on_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_answered"


# --- consult -----------------------------------------------------------------------------------


def test_consult_to_an_operator_holds_the_customer_and_rings_the_target(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.CONSULT and call.initiator == centre.a
    assert centre.legs(call)["customer"].state == S.HELD
    assert leg.kind == Leg.Kind.CONSULT and leg.state == S.RINGING and leg.operator == centre.b
    assert voice(centre.b).load == 1  # reserved: routing does not give B another call meanwhile


def test_a_consult_target_is_filled_and_freed_through_the_core_capacity_service(centre):
    """The reservation is the core's `occupy_capacity`: reaching capacity says so once (the
    signal transfers use to withdraw offers), and hanging up gives the slot back."""
    from helpdesk.signals import operator_reached_capacity

    filled = []

    def on_full(sender, operator, media, **kwargs):
        filled.append((operator.pk, media))

    operator_reached_capacity.connect(on_full)
    try:
        call = centre.answered_call()
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
        assert (centre.b.pk, Media.VOICE) in filled
        services.hang_up_consult(call_id=call.pk, operator=centre.a)
    finally:
        operator_reached_capacity.disconnect(on_full)
    assert voice(centre.b).load == 0 and voice(centre.b).idle_since is not None


def test_consult_to_a_skill_rings_its_longest_idle_available_operator(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, queue_id=centre.resolution.pk)
    assert leg.operator == centre.b and leg.queue == centre.resolution


def test_consult_to_a_skill_with_nobody_available_is_refused_before_ringing(centre):
    for operator in (centre.b, centre.c):
        set_availability(operator=operator, media=Media.VOICE, status=Availability.Status.AWAY)
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, queue_id=centre.resolution.pk)
    assert error.value.code == "no_agent"
    assert "Resolution Specialists" in error.value.message
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.NORMAL
    assert centre.legs(call)["customer"].state == S.CONNECTED
    assert not Leg.objects.filter(call=call, kind=Leg.Kind.CONSULT).exists()


def test_consult_to_an_unavailable_operator_or_to_oneself_is_refused(centre):
    set_availability(operator=centre.b, media=Media.VOICE, status=Availability.Status.BUSY)
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    assert error.value.code == "target_unavailable"
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.a.pk)
    assert error.value.code == "self"


def test_consult_needs_exactly_one_target(centre):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a)
    assert error.value.code == "no_target"
    with pytest.raises(CallError):
        services.start_consult(
            call_id=call.pk, operator=centre.a, operator_id=centre.b.pk, phone_number="+447700900123"
        )


@pytest.mark.parametrize("number", ["", "07700 900123", "+44 12", "+999 1234567", "call me", 12345])
def test_consult_to_an_invalid_phone_number_is_refused(centre, number):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, phone_number=number)
    assert error.value.code in ("invalid_number", "no_target")


def test_consult_to_a_phone_number_dials_it_in_e164(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+44 20 7946 0958")
    assert leg.kind == Leg.Kind.PHONE and leg.phone_number == "+442079460958" and leg.state == S.RINGING


def test_only_one_consult_at_a_time(centre):
    call = centre.answered_call()
    services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.c.pk)
    assert error.value.code == "consult_open"


def test_database_keeps_one_open_consult_and_one_owner_leg(centre):
    call = centre.answered_call()
    LegFactory(call=call, kind=Leg.Kind.CONSULT, operator=centre.b, state=S.RINGING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Leg.objects.create(call=call, kind=Leg.Kind.PHONE, phone_number="+447700900123", state=S.RINGING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Leg.objects.create(call=call, kind=Leg.Kind.OPERATOR, operator=centre.c, state=S.RINGING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Leg.objects.create(call=call, kind=Leg.Kind.CUSTOMER, state=S.RINGING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Leg.objects.filter(call=call, kind=Leg.Kind.CONSULT).update(state=S.ENDED)  # no time, no reason


def test_target_answers_and_talks_while_the_customer_stays_on_hold(centre):
    call = centre.consulting()
    legs = centre.legs(call)
    assert legs["consult"].state == S.CONNECTED and legs["consult"].connected_at
    assert legs["customer"].state == S.HELD
    assert call.mode == Call.Mode.CONSULT


def test_target_declines_and_the_initiator_is_back_with_the_held_customer(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.decline_leg(leg_id=leg.pk, operator=centre.b)
    leg.refresh_from_db()
    call = centre.call(call.pk)
    assert leg.end_reason == R.DECLINED and call.mode == Call.Mode.NORMAL
    assert centre.legs(call)["customer"].state == S.HELD
    assert voice(centre.b).load == 0 and voice(centre.b).status == Availability.Status.AVAILABLE


def test_target_does_not_answer_in_time_and_the_initiator_gets_the_customer_back(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, queue_id=centre.resolution.pk)
    overdue(leg)
    assert services.expire_ringing_leg(leg_id=leg.pk)
    leg.refresh_from_db()
    call = centre.call(call.pk)
    assert leg.end_reason == R.NO_ANSWER
    assert call.mode == Call.Mode.NORMAL and call.engagement.owner == centre.a
    services.take_off_hold(call_id=call.pk, operator=centre.a)
    assert centre.legs(call)["customer"].state == S.CONNECTED


def test_hang_up_of_a_ringing_consult_cancels_it(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.hang_up_consult(call_id=call.pk, operator=centre.a)
    leg.refresh_from_db()
    assert leg.end_reason == R.CANCELLED
    assert voice(centre.b).load == 0


def test_hang_up_of_the_consult_returns_to_the_customer_on_hold_until_taken_off(centre):
    call = centre.consulting()
    with pytest.raises(CallError) as error:
        services.take_off_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "consult_open"
    services.hang_up_consult(call_id=call.pk, operator=centre.a)
    call = centre.call(call.pk)
    legs = centre.legs(call)
    assert legs["consult"].end_reason == R.HUNG_UP and call.mode == Call.Mode.NORMAL
    assert legs["customer"].state == S.HELD
    services.take_off_hold(call_id=call.pk, operator=centre.a)
    with pytest.raises(CallError) as error:
        services.hang_up_consult(call_id=call.pk, operator=centre.a)
    assert error.value.code == "no_consult"


def test_target_hanging_up_the_consult_returns_the_initiator_to_the_customer(centre):
    call = centre.consulting()
    services.hang_up(leg_id=centre.leg_of(call, centre.b).pk, operator=centre.b)
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.NORMAL and call.engagement.owner == centre.a
    assert centre.legs(call)["customer"].state == S.HELD


# --- cold transfer ---------------------------------------------------------------------------


def test_cold_transfer_is_refused_where_the_queue_disallows_it(centre):
    call = centre.consulting()
    with pytest.raises(CallError) as error:
        services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert error.value.code == "cold_transfer_disabled"
    assert centre.call(call.pk).engagement.owner == centre.a


def test_cold_transfer_joins_the_customer_to_the_target_and_the_initiator_leaves(centre):
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call = centre.consulting()
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    call = centre.call(call.pk)
    legs = centre.legs(call)
    assert call.engagement.owner == centre.b and call.mode == Call.Mode.NORMAL
    assert centre.leg_of(call, centre.a).end_reason == R.TRANSFERRED
    assert legs["operator"].operator == centre.b and legs["operator"].state == S.CONNECTED
    assert legs["customer"].state == S.CONNECTED
    assert voice(centre.a).load == 0 and voice(centre.b).load == 1
    assert list(Ownership.objects.filter(engagement=call.engagement).values_list("operator", "ended_because")) == [
        (centre.a.pk, "transferred"),
        (centre.b.pk, ""),
    ]


def test_cold_transfer_while_ringing_gives_the_customer_to_the_target_when_it_answers(centre):
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert centre.legs(centre.call(call.pk))["customer"].state == S.HELD
    services.answer_leg(leg_id=leg.pk, operator=centre.b)
    call = centre.call(call.pk)
    assert call.engagement.owner == centre.b and centre.legs(call)["customer"].state == S.CONNECTED


def test_cold_transfer_needs_a_consult(centre):
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert error.value.code == "no_consult"


# --- conference, release, end ---------------------------------------------------------------


def test_conference_needs_an_answered_consult(centre):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.conference(call_id=call.pk, operator=centre.a)
    assert error.value.code == "no_consult"
    services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    with pytest.raises(CallError) as error:
        services.conference(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_answered"


def test_conference_takes_the_customer_off_hold_and_all_three_talk(centre):
    call = centre.conferencing()
    legs = centre.legs(call)
    assert call.mode == Call.Mode.CONFERENCE
    assert [legs[k].state for k in ("customer", "operator", "consult")] == [S.CONNECTED] * 3


def test_in_a_conference_hold_consult_and_end_rules(centre):
    call = centre.conferencing()
    with pytest.raises(CallError) as error:
        services.put_on_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "in_conference"
    with pytest.raises(CallError) as error:
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.c.pk)
    assert error.value.code == "in_conference"


@pytest.mark.parametrize(
    "act",
    [
        lambda c, call: services.release_call(call_id=call.pk, operator=c.b),
        lambda c, call: services.cold_transfer(call_id=call.pk, operator=c.b),
        lambda c, call: services.start_consult(call_id=call.pk, operator=c.b, operator_id=c.c.pk),
        lambda c, call: services.end_conference(call_id=call.pk, operator=c.b),
        lambda c, call: services.put_on_hold(call_id=call.pk, operator=c.b),
    ],
)
def test_target_cannot_transfer_while_the_initiator_stays_in_the_conference(centre, act):
    call = centre.conferencing()
    with pytest.raises(CallError) as error:
        act(centre, call)
    assert error.value.code == "initiator_in_conference"
    assert centre.call(call.pk).mode == Call.Mode.CONFERENCE


def test_release_gives_the_call_to_the_target_who_can_transfer_again(centre):
    call = centre.conferencing()
    services.release_call(call_id=call.pk, operator=centre.a)
    call = centre.call(call.pk)
    assert call.engagement.owner == centre.b and call.mode == Call.Mode.NORMAL and call.initiator is None
    assert centre.leg_of(call, centre.a).end_reason == R.TRANSFERRED
    assert centre.legs(call)["customer"].state == S.CONNECTED
    # B transfers again, to C, the same way.
    leg = services.start_consult(call_id=call.pk, operator=centre.b, operator_id=centre.c.pk)
    services.answer_leg(leg_id=leg.pk, operator=centre.c)
    services.conference(call_id=call.pk, operator=centre.b)
    services.release_call(call_id=call.pk, operator=centre.b)
    call = centre.call(call.pk)
    assert call.engagement.owner == centre.c
    assert [o.operator for o in Ownership.objects.filter(engagement=call.engagement)] == [centre.a, centre.b, centre.c]
    assert voice(centre.a).load == 0 and voice(centre.b).load == 0 and voice(centre.c).load == 1


def test_release_outside_a_conference_is_refused(centre):
    call = centre.consulting()
    with pytest.raises(CallError) as error:
        services.release_call(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_in_conference"


def test_end_conference_hangs_up_on_everyone(centre):
    call = centre.conferencing()
    services.end_conference(call_id=call.pk, operator=centre.a)
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.ENDED
    assert set(Leg.objects.filter(call=call).values_list("state", "end_reason")) == {(S.ENDED, R.HUNG_UP)}
    assert voice(centre.a).load == 0 and voice(centre.b).load == 0
    with pytest.raises(CallError) as error:
        services.put_on_hold(call_id=call.pk, operator=centre.a)
    assert error.value.code == "ended"


def test_end_conference_outside_a_conference_is_refused(centre):
    call = centre.answered_call()
    with pytest.raises(CallError) as error:
        services.end_conference(call_id=call.pk, operator=centre.a)
    assert error.value.code == "not_in_conference"


def test_target_leaving_the_conference_leaves_initiator_and_customer_talking(centre):
    call = centre.conferencing()
    services.hang_up(leg_id=centre.leg_of(call, centre.b).pk, operator=centre.b)
    call = centre.call(call.pk)
    assert call.mode == Call.Mode.NORMAL and centre.legs(call)["customer"].state == S.CONNECTED


# --- hang-ups ----------------------------------------------------------------------------------


def test_owner_hanging_up_a_plain_call_ends_it(centre):
    call = centre.answered_call()
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    call = centre.call(call.pk)
    assert call.engagement.end_reason == Engagement.EndReason.OPERATOR_ENDED
    assert not Leg.objects.filter(call=call).exclude(state=S.ENDED).exists()


def test_customer_hanging_up_during_a_consult_ends_every_leg(centre):
    call = centre.consulting()
    services.hang_up(leg_id=centre.legs(call)["customer"].pk)
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.ENDED
    assert call.engagement.end_reason == Engagement.EndReason.CALLER_HUNG_UP
    assert not Leg.objects.filter(call=call).exclude(state=S.ENDED).exists()
    assert voice(centre.a).load == 0 and voice(centre.b).load == 0


def test_customer_hanging_up_while_the_consult_rings_cancels_it(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.hang_up(leg_id=centre.legs(call)["customer"].pk)
    leg.refresh_from_db()
    assert leg.end_reason == R.CANCELLED and voice(centre.b).load == 0


def test_initiator_hanging_up_while_the_consult_rings_gives_the_customer_to_the_target_on_answer(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    call = centre.call(call.pk)
    assert centre.leg_of(call, centre.a).end_reason == R.HUNG_UP
    assert centre.legs(call)["customer"].state == S.HELD  # never alone: still held, target still ringing
    assert call.engagement.owner == centre.b
    services.answer_leg(leg_id=leg.pk, operator=centre.b)
    call = centre.call(call.pk)
    assert centre.legs(call)["customer"].state == S.CONNECTED and centre.legs(call)["operator"].operator == centre.b


def test_initiator_hanging_up_while_the_consult_rings_unanswered_requeues_the_customer(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    overdue(Leg.objects.get(pk=leg.pk))
    assert services.expire_ringing_leg(leg_id=leg.pk)
    call = centre.call(call.pk)
    assert call.engagement.state in (Engagement.State.QUEUED, Engagement.State.ACTIVE)
    customer = centre.legs(call)["customer"]
    assert customer.state == S.RINGING  # waiting again (A is available again and may be rung)


def test_initiator_hanging_up_after_the_target_answered_gives_it_the_customer(centre):
    call = centre.consulting()
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    call = centre.call(call.pk)
    assert call.engagement.owner == centre.b and call.mode == Call.Mode.NORMAL
    assert centre.legs(call)["customer"].state == S.CONNECTED


def test_initiator_hanging_up_in_the_conference_releases_it(centre):
    call = centre.conferencing()
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    assert centre.call(call.pk).engagement.owner == centre.b


# --- outside numbers ----------------------------------------------------------------------------


def test_phone_number_target_answers_conferences_and_takes_the_call_out_on_release(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    with pytest.raises(NotAllowed):
        services.answer_leg(leg_id=leg.pk, operator=centre.a)
    services.answer_leg(leg_id=leg.pk)  # the outside party answers (provider side)
    services.conference(call_id=call.pk, operator=centre.a)
    services.release_call(call_id=call.pk, operator=centre.a)
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.ENDED
    assert call.engagement.end_reason == Engagement.EndReason.CALL_ENDED
    # The helpdesk's part is over; the customer and the number still talk (tests/telephony/test_outside_number.py).
    assert call.mode == Call.Mode.OUTSIDE
    assert centre.leg_of(call, centre.a).end_reason == R.TRANSFERRED
    assert set(Leg.objects.filter(call=call, state=S.CONNECTED).values_list("kind", flat=True)) == {"customer", "phone"}
    assert voice(centre.a).load == 0


def test_phone_number_target_hanging_up_returns_the_initiator(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    services.answer_leg(leg_id=leg.pk)
    services.hang_up(leg_id=leg.pk)
    assert centre.call(call.pk).mode == Call.Mode.NORMAL


# --- presence ---------------------------------------------------------------------------------


def test_target_going_offline_withdraws_the_ringing_consult(centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    set_availability(operator=centre.b, media=Media.VOICE, status=Availability.Status.OFFLINE)
    leg.refresh_from_db()
    assert leg.end_reason == R.CANCELLED and centre.call(call.pk).mode == Call.Mode.NORMAL


def test_operator_going_away_while_offered_sends_the_call_back_to_the_queue(centre):
    call = services.place_call(queue=centre.sales)
    set_availability(operator=centre.a, media=Media.VOICE, status=Availability.Status.AWAY)
    call = centre.call(call.pk)
    assert call.engagement.state == Engagement.State.QUEUED
    assert centre.leg_of(call, centre.a).end_reason == R.CANCELLED
